package config

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
)

// Environment variables that choose the config file, as in the earlier implementation.
const (
	EnvConfig    = "AGORA_CONFIG"     // path of the config file; wins over profiles
	EnvConfigDir = "AGORA_CONFIG_DIR" // base directory; default ~/.config/agora
)

// DefaultProfile is the profile stored in <dir>/config.json.
const DefaultProfile = "default"

// Load reads and parses the config file at path. A missing file gives an error that matches
// fs.ErrNotExist. When the file contains an identity and is readable by group or others, Load
// logs a warning, because the identity includes the private key. A nil log means slog.Default().
func Load(path string, log *slog.Logger) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config file: %w", err)
	}
	c, err := Parse(data, path)
	if err != nil {
		return nil, err
	}
	if info, err := os.Stat(path); err == nil && info.Mode().Perm()&0o077 != 0 && c.Identity != nil {
		if log == nil {
			log = slog.Default()
		}
		log.Warn("config file is readable by other users and contains the private key; run chmod 600 on it",
			"file", path, "mode", info.Mode().Perm().String())
	}
	return c, nil
}

// LoadOrEmpty is Load, except that a missing file gives an empty config.
func LoadOrEmpty(path string, log *slog.Logger) (*Config, error) {
	c, err := Load(path, log)
	if errors.Is(err, fs.ErrNotExist) {
		return &Config{}, nil
	}
	return c, err
}

// Save writes c to path atomically with mode 0600: the text goes to a temporary file in the same
// directory, which is synced and renamed over path, and the directory is synced after. Missing
// parent directories are created with mode 0700.
func Save(path string, c *Config) error {
	data, err := c.Marshal()
	if err != nil {
		return fmt.Errorf("encode config for %s: %w", path, err)
	}
	return WriteFileAtomic(path, data)
}

// WriteFileAtomic writes data to path as Save does.
func WriteFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create directory %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file in %s: %w", dir, err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if err := writeAndSync(tmp, data); err != nil {
		return fmt.Errorf("write %s: %w", tmp.Name(), err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("replace %s: %w", path, err)
	}
	return syncDir(dir)
}

func writeAndSync(f *os.File, data []byte) error {
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// syncDir makes the rename durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync directory %s: %w", dir, err)
	}
	return nil
}

// BaseDir returns $AGORA_CONFIG_DIR, or ~/.config/agora under $HOME.
func BaseDir() (string, error) {
	if dir := os.Getenv(EnvConfigDir); dir != "" {
		return filepath.Abs(dir)
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the config directory: %w; set HOME or %s", err, EnvConfigDir)
	}
	return filepath.Join(home, ".config", "agora"), nil
}

var profileName = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)

// ValidateProfile rejects profile names that could escape the profiles directory.
func ValidateProfile(name string) error {
	if !profileName.MatchString(name) {
		return fmt.Errorf("invalid profile name %q: use 1 to 64 letters, digits, '_', '.' or '-', not starting with '.' or '-'", name)
	}
	return nil
}

// ProfilePath returns the config file of a profile: <base>/config.json for "" and "default",
// else <base>/profiles/NAME/config.json.
func ProfilePath(name string) (string, error) {
	base, err := BaseDir()
	if err != nil {
		return "", err
	}
	if name == "" || name == DefaultProfile {
		return filepath.Join(base, "config.json"), nil
	}
	if err := ValidateProfile(name); err != nil {
		return "", err
	}
	return filepath.Join(base, "profiles", name, "config.json"), nil
}

// Resolve picks the config file: the explicit path if set, else the profile if set, else
// $AGORA_CONFIG, else the default profile.
func Resolve(explicitPath, profile string) (string, error) {
	if explicitPath != "" && profile != "" {
		return "", errors.New("--config and --profile both choose the config file; give one of them")
	}
	if explicitPath != "" {
		return filepath.Abs(explicitPath)
	}
	if profile == "" {
		if env := os.Getenv(EnvConfig); env != "" {
			return filepath.Abs(env)
		}
	}
	return ProfilePath(profile)
}

// Profiles lists the profiles that have a config file, "default" first, the rest sorted.
func Profiles() ([]string, error) {
	base, err := BaseDir()
	if err != nil {
		return nil, err
	}
	var names []string
	if _, err := os.Stat(filepath.Join(base, "config.json")); err == nil {
		names = append(names, DefaultProfile)
	}
	entries, err := os.ReadDir(filepath.Join(base, "profiles"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("list profiles: %w", err)
	}
	var named []string
	for _, e := range entries {
		if !e.IsDir() || ValidateProfile(e.Name()) != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(base, "profiles", e.Name(), "config.json")); err == nil {
			named = append(named, e.Name())
		}
	}
	sort.Strings(named)
	return append(names, named...), nil
}

// Update reads the config at path, applies change and saves the result, holding an exclusive
// lock on path + ".lock" throughout, so that concurrent agora processes do not lose each
// other's changes. A missing file starts as an empty config. When change returns an error,
// nothing is written.
func Update(path string, log *slog.Logger, change func(*Config) error) (*Config, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("create directory %s: %w", filepath.Dir(path), err)
	}
	lock, err := lockFile(path + ".lock")
	if err != nil {
		return nil, err
	}
	defer lock.Close()
	c, err := LoadOrEmpty(path, log)
	if err != nil {
		return nil, err
	}
	if err := change(c); errors.Is(err, ErrUnchanged) {
		return c, nil
	} else if err != nil {
		return nil, err
	}
	if err := Save(path, c); err != nil {
		return nil, err
	}
	return c, nil
}

// ErrUnchanged, returned by the change function of Update, ends Update without writing and
// without error.
var ErrUnchanged = errors.New("config unchanged")
