package vi

import (
	"encoding/binary"
	"testing"
)

func attr(typ uint16, v []byte) []byte {
	b := make([]byte, (4+len(v)+3)&^3)
	binary.NativeEndian.PutUint16(b[0:2], uint16(4+len(v)))
	binary.NativeEndian.PutUint16(b[2:4], typ)
	copy(b[4:], v)
	return b
}

func TestAttrs(t *testing.T) {
	u32 := binary.NativeEndian.AppendUint32(nil, 1400)
	b := append(attr(1, []byte{9}), attr(2|0x8000, u32)...) // nested flag set
	if got := AttrU32(b, 2); got != 1400 {
		t.Fatalf("AttrU32 = %d, want 1400", got)
	}
	if got := AttrU32(b, 3); got != 0 {
		t.Fatalf("missing attribute = %d", got)
	}
	// A length past the end, or shorter than a header, ends the walk.
	bad := attr(2, u32)
	binary.NativeEndian.PutUint16(bad[0:2], 200)
	if got := AttrU32(bad, 2); got != 0 {
		t.Fatalf("overlong attribute read: %d", got)
	}
	binary.NativeEndian.PutUint16(bad[0:2], 2)
	if got := AttrU32(bad, 2); got != 0 {
		t.Fatalf("short attribute read: %d", got)
	}
	n := 0
	WalkAttrs(append(b, 1, 2), func(uint16, []byte) bool { n++; return true })
	if n != 2 {
		t.Fatalf("walked %d attributes, want 2", n)
	}
}
