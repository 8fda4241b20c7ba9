//go:build !unix

package config

import "os"

// lockFile only creates the lock file on systems without flock.
// NOTE: concurrent updates from several processes can then lose changes.
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
}
