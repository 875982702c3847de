package simhost

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// mergeEtc makes a new deployment's /etc as ostree does when it finalizes a
// staged deployment (ostree src/libostree/ostree-sysroot-deploy.c
// `merge_configuration_from`, `copy_modified_config_file`): start from the new
// image's defaults, then apply the local changes of the merge deployment (the
// booted one): what differs between its image's defaults (oldDefault) and its
// /etc (current). A file added or modified locally is copied over, whatever
// the new image has there; a file deleted locally is deleted. A file nobody
// changed takes the new image's version.
func mergeEtc(oldDefault, current, newDefault, out string) error {
	if err := cpA(newDefault+"/.", out); err != nil {
		return err
	}
	// Added or modified.
	err := filepath.WalkDir(current, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(current, path)
		if rel == "." {
			return nil
		}
		cur, err := os.Lstat(path)
		if err != nil {
			return err
		}
		orig, err := os.Lstat(filepath.Join(oldDefault, rel))
		same := err == nil && sameEntry(path, filepath.Join(oldDefault, rel), cur, orig)
		if same {
			return nil
		}
		dst := filepath.Join(out, rel)
		if cur.IsDir() {
			if fi, err := os.Lstat(dst); err == nil && !fi.IsDir() {
				if err := os.RemoveAll(dst); err != nil {
					return err
				}
			}
			if err := os.MkdirAll(dst, cur.Mode().Perm()); err != nil {
				return err
			}
			st := cur.Sys().(*syscall.Stat_t)
			if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil {
				return err
			}
			return os.Chmod(dst, cur.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
		}
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
		return cpA(path, dst)
	})
	if err != nil {
		return err
	}
	// Deleted.
	return filepath.WalkDir(oldDefault, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(oldDefault, path)
		if rel == "." {
			return nil
		}
		if _, err := os.Lstat(filepath.Join(current, rel)); errors.Is(err, fs.ErrNotExist) {
			if err := os.RemoveAll(filepath.Join(out, rel)); err != nil {
				return err
			}
			if d.IsDir() {
				return filepath.SkipDir
			}
		}
		return nil
	})
}

// sameEntry: same type, mode, owner, and content or link target. A
// directory's content is judged entry by entry.
func sameEntry(a, b string, fa, fb fs.FileInfo) bool {
	if fa.Mode() != fb.Mode() {
		return false
	}
	sa, sb := fa.Sys().(*syscall.Stat_t), fb.Sys().(*syscall.Stat_t)
	if sa.Uid != sb.Uid || sa.Gid != sb.Gid {
		return false
	}
	switch {
	case fa.IsDir():
		return true
	case fa.Mode()&fs.ModeSymlink != 0:
		la, err1 := os.Readlink(a)
		lb, err2 := os.Readlink(b)
		return err1 == nil && err2 == nil && la == lb
	case fa.Mode().IsRegular():
		if fa.Size() != fb.Size() {
			return false
		}
		ca, err1 := os.ReadFile(a)
		cb, err2 := os.ReadFile(b)
		return err1 == nil && err2 == nil && bytes.Equal(ca, cb)
	}
	return true // devices, fifos: compared by mode only
}

func cpA(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if out, err := exec.Command("cp", "-a", "--no-target-directory", src, dst).CombinedOutput(); err != nil {
		return fmt.Errorf("cp -a %s %s: %v: %s", src, dst, err, out)
	}
	return nil
}
