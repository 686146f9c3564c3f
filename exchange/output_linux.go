package exchange

import (
	"os"
	"syscall"
)

// openDirect opens plan file f of the output for O_DIRECT writes (nil, nil when this
// platform or file system has none). Direct writes skip the kernel's copy into fresh
// page-cache pages, which on the machines we measured cost more CPU than the disk takes to
// store the bytes; the output is still fsynced before its rename.
func (o *output) openDirect(f int) (*os.File, error) {
	if o.root != nil {
		return o.root.OpenFile(o.p.files[f].path, os.O_WRONLY|syscall.O_DIRECT, 0)
	}
	return os.OpenFile(o.tmp, os.O_WRONLY|syscall.O_DIRECT, 0)
}

// isEINVAL: the file system refuses O_DIRECT (or this transfer's alignment).
func isEINVAL(err error) bool {
	for err != nil {
		if err == syscall.EINVAL {
			return true
		}
		u, ok := err.(interface{ Unwrap() error })
		if !ok {
			return false
		}
		err = u.Unwrap()
	}
	return false
}
