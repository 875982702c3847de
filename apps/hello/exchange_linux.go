package main

import (
	"errors"
	"os"
	"syscall"
	"unsafe"
)

// renameExchange is RENAME_EXCHANGE of renameat2(2) (linux/fs.h), which
// swaps two names atomically; Linux 3.18+ on ext4, xfs, btrfs and tmpfs.
const renameExchange = 1 << 1

// exchange swaps the files named a and b in dir in one atomic step. It
// returns an error wrapping errors.ErrUnsupported when the kernel or the
// filesystem cannot (ENOSYS, EINVAL), so the caller can rename instead.
func exchange(dir *os.File, a, b string) error {
	if sysRenameat2 < 0 {
		return &os.LinkError{Op: "renameat2", Old: a, New: b, Err: errors.ErrUnsupported}
	}
	pa, err := syscall.BytePtrFromString(a)
	if err != nil {
		return err
	}
	pb, err := syscall.BytePtrFromString(b)
	if err != nil {
		return err
	}
	rc, err := dir.SyscallConn()
	if err != nil {
		return err
	}
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		_, _, errno = syscall.Syscall6(uintptr(sysRenameat2), fd, uintptr(unsafe.Pointer(pa)),
			fd, uintptr(unsafe.Pointer(pb)), renameExchange, 0)
	}); err != nil {
		return err
	}
	switch errno {
	case 0:
		return nil
	case syscall.ENOSYS, syscall.EINVAL:
		return &os.LinkError{Op: "renameat2", Old: a, New: b, Err: errors.Join(errno, errors.ErrUnsupported)}
	}
	return &os.LinkError{Op: "renameat2", Old: a, New: b, Err: errno}
}
