package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/rmad/rmad/web/console/staff"
)

func TestStaffCommand(t *testing.T) {
	path, _, _ := writeRedisConfig(t, "smtp: {address: smtp.example.com:587, from: rma@example.com}\nconsole: {enabled: true, staff_file: staff.yaml}\n")
	staffFile := filepath.Join(filepath.Dir(path), "staff.yaml")
	withStdin := func(s string) { staffStdin = strings.NewReader(s) }
	t.Cleanup(func() { staffRole, staffName = "", "" })

	withStdin("a-long-password\n")
	if code, out, errOut := runCLI(t, "staff", "add", "Ann", "--role", "admin", "--name", "Ann Agent", "--config", path); code != 0 {
		t.Fatalf("add: %d %s %s", code, out, errOut)
	}
	f, err := staff.Load(staffFile)
	if err != nil {
		t.Fatal(err)
	}
	a, ok := f.Authenticate("ann", "a-long-password")
	if !ok || a.Role != staff.RoleAdmin || a.Name != "Ann Agent" || !strings.HasPrefix(a.PasswordHash, "$argon2id$v=19$") {
		t.Fatalf("account %+v %v", a, ok)
	}
	staffRole, staffName = "", ""
	withStdin("a-long-password\n")
	if code, _, errOut := runCLI(t, "staff", "add", "ann", "--config", path); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Fatalf("second add: %d %s", code, errOut)
	}
	withStdin("short\n")
	if code, _, errOut := runCLI(t, "staff", "passwd", "ann", "--config", path); code != 1 || !strings.Contains(errOut, "too short") {
		t.Fatalf("short password: %d %s", code, errOut)
	}
	withStdin("another-long-password\n")
	if code, _, errOut := runCLI(t, "staff", "passwd", "ann", "--config", path); code != 0 {
		t.Fatalf("passwd: %d %s", code, errOut)
	}
	f, _ = staff.Load(staffFile)
	if _, ok := f.Authenticate("ann", "a-long-password"); ok {
		t.Fatal("old password still works")
	}
	if _, ok := f.Authenticate("ann", "another-long-password"); !ok {
		t.Fatal("new password does not work")
	}
	if code, _, errOut := runCLI(t, "staff", "disable", "ann", "--config", path); code != 0 {
		t.Fatalf("disable: %d %s", code, errOut)
	}
	f, _ = staff.Load(staffFile)
	if _, ok := f.Authenticate("ann", "another-long-password"); ok {
		t.Fatal("disabled account signs in")
	}
	if code, _, errOut := runCLI(t, "staff", "disable", "bob", "--config", path); code != 1 || !strings.Contains(errOut, "no account bob") {
		t.Fatalf("unknown user: %d %s", code, errOut)
	}
	if code, _, errOut := runCLI(t, "staff", "add", "Bad Name", "--config", path); code != 2 || !strings.Contains(errOut, "username") {
		t.Fatalf("bad username: %d %s", code, errOut)
	}
}
