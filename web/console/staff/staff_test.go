package staff

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashAndVerify(t *testing.T) {
	h, err := Hash("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !Verify(h, "correct horse battery") || Verify(h, "correct horse batterY") || Verify(h, "") {
		t.Fatal("argon2id verify")
	}
	h2, _ := Hash("correct horse battery")
	if h == h2 {
		t.Fatal("no salt")
	}
	bc, _ := bcrypt.GenerateFromPassword([]byte("from another tool"), bcrypt.MinCost)
	if !Verify(string(bc), "from another tool") || Verify(string(bc), "x") {
		t.Fatal("bcrypt verify")
	}
	for _, bad := range []string{"", "plain", "$argon2id$v=19$m=0,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=18$m=1024,t=1,p=1$c2FsdA$aGFzaA",
		"$argon2i$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA", "$argon2id$v=19$m=99999999,t=1,p=1$c2FsdA$aGFzaA"} {
		if Verify(bad, "") || Verify(bad, "plain") {
			t.Errorf("Verify(%q) accepted", bad)
		}
	}
}

func TestFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "staff.yaml")
	f, err := Load(path) // missing: empty
	if err != nil || len(f.Staff) != 0 {
		t.Fatalf("missing file: %v %v", f, err)
	}
	h, _ := Hash("pw-of-ann-123")
	f.Staff = append(f.Staff, Account{Username: "ann", Name: "Ann", Role: RoleAgent, PasswordHash: h},
		Account{Username: "bob", Name: "Bob", Role: RoleAdmin, PasswordHash: h, Disabled: true})
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
		t.Errorf("mode %v", st.Mode())
	}
	f, err = Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := f.Authenticate(" ANN ", "pw-of-ann-123"); !ok || a.IsAdmin() {
		t.Fatalf("ann: %+v %v", a, ok)
	}
	if _, ok := f.Authenticate("bob", "pw-of-ann-123"); ok {
		t.Fatal("disabled bob signed in")
	}
	if _, ok := f.Authenticate("carol", "pw-of-ann-123"); ok {
		t.Fatal("unknown carol signed in")
	}
	for body, want := range map[string]string{
		"staff:\n  - {username: Ann, role: agent}\n": "username",
		"staff:\n  - {username: ann, role: boss}\n":  `role "boss"`,
		"staff:\n  - {username: ann, colour: red}\n": "colour",
	} {
		_ = os.WriteFile(path, []byte(body), 0o600)
		if _, err := Load(path); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", body, err, want)
		}
	}
}
