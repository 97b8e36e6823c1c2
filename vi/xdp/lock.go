package xdp

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// Sharing between processes rests on open-file-description locks on one
// file per interface: byte i (i < MaxSlots) is held by the owner of slot i,
// byte MaxSlots by whoever is setting up or tearing down the table. The
// kernel drops such locks when the holder's last fd closes, so a process
// killed with SIGKILL frees its slots without anyone's help.

func (t *Table) lock(cmd int, typ int16, start, n int64) error {
	lk := unix.Flock_t{Type: typ, Whence: 0, Start: start, Len: n}
	return unix.FcntlFlock(t.lockf.Fd(), cmd, &lk)
}

func (t *Table) setupLock() error {
	for {
		err := t.lock(unix.F_OFD_SETLKW, unix.F_WRLCK, MaxSlots, 1)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return fmt.Errorf("xdp: lock %s: %w", t.lockf.Name(), err)
		}
		return nil
	}
}

func (t *Table) setupUnlock() { t.lock(unix.F_OFD_SETLK, unix.F_UNLCK, MaxSlots, 1) }

func (t *Table) trySlotLock(slot uint32) (bool, error) {
	err := t.lock(unix.F_OFD_SETLK, unix.F_WRLCK, int64(slot), 1)
	switch err {
	case nil:
		return true, nil
	case unix.EAGAIN, unix.EACCES:
		return false, nil
	}
	return false, fmt.Errorf("xdp: lock slot %d: %w", slot, err)
}

func (t *Table) slotUnlock(slot uint32) {
	if t.lockf != nil {
		t.lock(unix.F_OFD_SETLK, unix.F_UNLCK, int64(slot), 1)
	}
}
