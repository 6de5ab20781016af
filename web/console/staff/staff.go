// Package staff reads and writes the console's accounts file (console.staff_file) and checks
// passwords. A password is kept as an argon2id hash in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash); bcrypt hashes ($2a$, $2b$, $2y$) written by
// other tools are accepted too.
package staff

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Roles.
const (
	RoleAgent = "agent"
	RoleAdmin = "admin"
)

// Account is one staff member.
type Account struct {
	Username     string `yaml:"username"`
	Name         string `yaml:"name"`
	Role         string `yaml:"role"`
	PasswordHash string `yaml:"password_hash"`
	Disabled     bool   `yaml:"disabled,omitempty"`
}

// IsAdmin reports whether the account may do admin actions.
func (a Account) IsAdmin() bool { return a.Role == RoleAdmin }

// File is the accounts file.
type File struct {
	Staff []Account `yaml:"staff"`
}

var usernameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// CheckUsername says what is wrong with a username, or nil.
func CheckUsername(u string) error {
	if !usernameRE.MatchString(u) {
		return fmt.Errorf("username %q: use 1 to 64 lower-case letters, digits, '.', '_' or '-', starting with a letter or digit", u)
	}
	return nil
}

// Load reads the accounts file; a missing file is an empty one.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &File{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("staff file: %w", err)
	}
	var f File
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		return nil, fmt.Errorf("staff file %s: %w", path, err)
	}
	for i, a := range f.Staff {
		if err := CheckUsername(a.Username); err != nil {
			return nil, fmt.Errorf("staff file %s: staff[%d]: %w", path, i, err)
		}
		if a.Role != RoleAgent && a.Role != RoleAdmin {
			return nil, fmt.Errorf("staff file %s: staff[%d] (%s): role %q is not agent or admin", path, i, a.Username, a.Role)
		}
	}
	return &f, nil
}

// Save writes the file atomically (a temporary file renamed over it), readable by its group.
func (f *File) Save(path string) error {
	b, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("staff file: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".staff-*.yaml")
	if err != nil {
		return fmt.Errorf("staff file: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o640); err != nil {
		tmp.Close()
		return fmt.Errorf("staff file: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("staff file: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("staff file: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("staff file: %w", err)
	}
	return nil
}

// Find returns the account of a username.
func (f *File) Find(username string) (*Account, bool) {
	i := slices.IndexFunc(f.Staff, func(a Account) bool { return a.Username == username })
	if i < 0 {
		return nil, false
	}
	return &f.Staff[i], true
}

// dummyHash is verified against when the username is unknown, so that an unknown user and a
// wrong password take the same time.
var dummyHash = mustHash("not a password of anyone")

// Authenticate returns the enabled account whose password this is. Unknown user, disabled
// account and wrong password are all the same false.
func (f *File) Authenticate(username, password string) (Account, bool) {
	a, ok := f.Find(strings.ToLower(strings.TrimSpace(username)))
	if !ok || a.Disabled {
		Verify(dummyHash, password)
		return Account{}, false
	}
	if !Verify(a.PasswordHash, password) {
		return Account{}, false
	}
	return *a, true
}

// argon2id parameters: OWASP's 19 MiB, 2 passes, 1 lane.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	saltLen      = 16
)

// MinPasswordLen is the shortest password accepted for a new account.
const MinPasswordLen = 10

// Hash makes the argon2id hash of a password.
func Hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

func mustHash(p string) string {
	h, err := Hash(p)
	if err != nil {
		panic(err) // crypto/rand failing at start-up: nothing can work
	}
	return h
}

// Verify reports whether password matches hash, comparing in constant time.
func Verify(hash, password string) bool {
	if strings.HasPrefix(hash, "$2") {
		return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
	}
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false
	}
	var m, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &m, &t, &p); err != nil || m == 0 || m > 1<<21 || t == 0 || t > 16 || p == 0 {
		return false
	}
	b64 := base64.RawStdEncoding
	salt, err1 := b64.DecodeString(parts[4])
	want, err2 := b64.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 128 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, t, m, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1
}
