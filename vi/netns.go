package vi

import (
	"fmt"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// ThreadNetns identifies the calling thread's network namespace (its
// inode in nsfs): interface indexes and names are only unique within one.
func ThreadNetns() (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		return 0, fmt.Errorf("identify network namespace: %w", err)
	}
	return st.Ino, nil
}

// InNetns runs fn on an OS thread in the network namespace ns (an open
// /proc/<pid>/ns/net or /var/run/netns file), then brings the thread back.
// AF_XDP sockets, BPF links and netlink sockets belong to the namespace of
// the thread that makes them; the fds work from any thread afterwards.
// Goroutines that fn starts run elsewhere. Where the thread is in ns
// already, fn runs as it is.
func InNetns(ns *os.File, fn func() error) error {
	runtime.LockOSThread()
	var here, want unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &here); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("identify network namespace: %w", err)
	}
	if err := unix.Fstat(int(ns.Fd()), &want); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("identify network namespace %s: %w", ns.Name(), err)
	}
	if here.Ino == want.Ino && here.Dev == want.Dev {
		runtime.UnlockOSThread()
		return fn()
	}
	self, err := os.Open("/proc/thread-self/ns/net")
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("open own network namespace: %w", err)
	}
	defer self.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter network namespace %s: %w", ns.Name(), Classify(err))
	}
	defer func() {
		// A thread that cannot go back stays locked, and the runtime
		// ends it with its goroutine.
		if unix.Setns(int(self.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
	}()
	return fn()
}
