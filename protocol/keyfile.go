package protocol

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// SaveKeyFile writes the private key in PKCS#8 hex to path with mode 0600, atomically: a
// temporary file in the same directory is synced and renamed over path.
func SaveKeyFile(path string, k *KeyPair) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create key directory %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".agora-key-*")
	if err != nil {
		return fmt.Errorf("create key file in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("chmod key file %s: %w", tmp.Name(), err)
	}
	if _, err := tmp.WriteString(k.PrivateKeyHex() + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file %s: %w", tmp.Name(), err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("sync key file %s: %w", tmp.Name(), err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close key file %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename key file to %s: %w", path, err)
	}
	return nil
}

// LoadKeyFile reads a private key written by SaveKeyFile. When group or others may read the
// file, it logs a warning naming the file; a nil log means slog.Default().
func LoadKeyFile(path string, log *slog.Logger) (*KeyPair, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		if log == nil {
			log = slog.Default()
		}
		log.Warn("private key file is readable by other users; run chmod 600 on it",
			"file", path, "mode", info.Mode().Perm().String())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	k, err := ParsePrivateKey(strings.TrimSpace(string(data)))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}
