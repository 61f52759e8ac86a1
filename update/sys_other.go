//go:build !linux

package update

import (
	"errors"
	"os"
)

func dropCache(*os.File) {}

// TrybootArg: see sys_linux.go.
const TrybootArg = "0 tryboot"

// Reboot is only on Linux.
func Reboot(string) error { return errors.New("reboot: only on Linux") }
