package httpx

import (
	"bufio"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode"
)

// MinKeyLength is the shortest API key the keys file accepts.
const MinKeyLength = 16

// DefaultKeysFileName is the keys file created in the data directory when no
// CRM_API_KEYS_FILE is configured.
const DefaultKeysFileName = "api-keys"

// Principal is an authenticated user.
type Principal struct {
	UserID string
	Roles  []Role
}

// Has reports whether p has role r.
func (p Principal) Has(r Role) bool { return slices.Contains(p.Roles, r) }

// RoleNames returns the roles as strings.
func (p Principal) RoleNames() []string {
	out := make([]string, len(p.Roles))
	for i, r := range p.Roles {
		out[i] = string(r)
	}
	return out
}

type keyEntry struct {
	digest    [sha256.Size]byte
	principal Principal
}

// Keys maps API keys to principals. Only SHA-256 digests of the keys are
// kept; Lookup compares the presented key's digest with every entry in
// constant time. A Keys is immutable and safe for concurrent use.
type Keys struct {
	entries []keyEntry
}

// Len returns the number of keys.
func (k *Keys) Len() int { return len(k.entries) }

// Lookup returns the principal of key. It compares against every entry,
// without an early exit, so its timing does not depend on which key (if
// any) matches.
func (k *Keys) Lookup(key string) (Principal, bool) {
	d := sha256.Sum256([]byte(key))
	found := -1
	for i := range k.entries {
		if subtle.ConstantTimeCompare(d[:], k.entries[i].digest[:]) == 1 {
			found = i
		}
	}
	if found < 0 || key == "" {
		return Principal{}, false
	}
	return k.entries[found].principal, true
}

// ParseKeys reads a keys file: one key per line,
//
//	<key> <user-id> <role>[,<role>...]
//
// separated by spaces or tabs; blank lines and lines starting with '#' are
// ignored. Errors name the source and the line number, never the key.
func ParseKeys(r io.Reader, source string) (*Keys, error) {
	var (
		keys = &Keys{}
		errs []error
		seen = map[[sha256.Size]byte]int{}
		sc   = bufio.NewScanner(r)
		n    = 0
	)
	sc.Buffer(make([]byte, 0, 4096), 64*1024)
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s:%d: %s", source, n, fmt.Sprintf(format, args...)))
		}
		f := strings.Fields(line)
		if len(f) != 3 {
			bad("want 3 fields \"<key> <user-id> <role>[,<role>...]\", got %d", len(f))
			continue
		}
		key, user, roleList := f[0], f[1], f[2]
		if len(key) < MinKeyLength {
			bad("key too short: %d characters, want at least %d", len(key), MinKeyLength)
			continue
		}
		if strings.IndexFunc(key, func(r rune) bool { return r > unicode.MaxASCII || !unicode.IsPrint(r) }) >= 0 {
			bad("key must be printable ASCII")
			continue
		}
		var roles []Role
		ok := true
		for _, name := range strings.Split(roleList, ",") {
			role, err := ParseRole(name)
			if err != nil {
				bad("%v", err)
				ok = false
				continue
			}
			if !slices.Contains(roles, role) {
				roles = append(roles, role)
			}
		}
		if !ok {
			continue
		}
		d := sha256.Sum256([]byte(key))
		if first, dup := seen[d]; dup {
			bad("duplicate key (first on line %d)", first)
			continue
		}
		seen[d] = n
		keys.entries = append(keys.entries, keyEntry{digest: d, principal: Principal{UserID: user, Roles: roles}})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("%s:%d: %w", source, n+1, err))
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(keys.entries) == 0 {
		return nil, fmt.Errorf("%s: no API keys (want lines \"<key> <user-id> <role>[,<role>...]\")", source)
	}
	return keys, nil
}

// LoadKeysFile reads and parses the keys file at path.
func LoadKeysFile(path string) (*Keys, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("API keys file: %w", err)
	}
	defer f.Close()
	return ParseKeys(f, path)
}

// NewKey returns a fresh random API key: "crm_" and 43 base64url characters
// (256 bits).
func NewKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "crm_" + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// EnsureDefaultKeysFile makes sure dataDir/api-keys exists. When it does
// not, it creates it (mode 0600, the directory 0700 if missing) with one
// random key for the user "admin" with role admin, and returns that key so
// the caller can show it once; otherwise it returns "". The file is created
// exclusively, so two processes starting together do not overwrite each
// other's key.
func EnsureDefaultKeysFile(dataDir string) (path, newKey string, err error) {
	path = filepath.Join(dataDir, DefaultKeysFileName)
	if _, err := os.Stat(path); err == nil {
		return path, "", nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return path, "", fmt.Errorf("API keys file: %w", err)
	}
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return path, "", fmt.Errorf("API keys file: %w", err)
	}
	key, err := NewKey()
	if err != nil {
		return path, "", fmt.Errorf("API keys file: generate key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return path, "", nil
	}
	if err != nil {
		return path, "", fmt.Errorf("API keys file: %w", err)
	}
	content := "# crm API keys: <key> <user-id> <role>[,<role>...]\n" +
		"# roles: admin, manager, sales, service, auditor, analyst, executive\n" +
		key + " admin admin\n"
	_, werr := f.WriteString(content)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		_ = os.Remove(path)
		return path, "", fmt.Errorf("API keys file: write %s: %w", path, err)
	}
	return path, key, nil
}
