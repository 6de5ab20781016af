package testenv

import (
	_ "embed"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// OAuthDovecot starts a private Dovecot (2.3) on loopback whose only logins are XOAUTH2 and
// OAUTHBEARER, checked by its oauth2 passdb against introspectURL (a TokenService's), and
// returns its IMAP host:port. It is stopped when the test ends. Like scripts/dovecot.sh it runs
// the packaged unprivileged users when the tests run as root. A missing dovecot fails the test.
func OAuthDovecot(t testing.TB, introspectURL string) string {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal("dovecot is not installed (Debian package dovecot-imapd); scripts/test.sh installs it")
	}
	dir, err := os.MkdirTemp("", "rmad-dovecot-oauth-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"run", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	loginUser, internalUser := currentUser(t), currentUser(t)
	if os.Getuid() == 0 {
		loginUser, internalUser = systemUser("dovenull"), systemUser("dovecot")
	}
	mailUser, err := user.Lookup(internalUser)
	if err != nil {
		t.Fatal(err)
	}
	if os.Getuid() == 0 {
		chownR(t, filepath.Join(dir, "mail"), mailUser)
		// The unprivileged users must reach DIR; grant search only on each ancestor.
		for d := dir; d != "/"; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				os.Chmod(d, fi.Mode().Perm()|0o001)
			}
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()

	ext := filepath.Join(dir, "dovecot-oauth2.conf.ext")
	writeConf(t, ext, fmt.Sprintf(`introspection_mode = post
introspection_url = %s
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
`, introspectURL))
	conf := filepath.Join(dir, "dovecot.conf")
	writeConf(t, conf, strings.NewReplacer("@DIR@", dir, "@MECHANISMS@", "xoauth2 oauthbearer",
		"@LOGIN_USER@", loginUser, "@INTERNAL_USER@", internalUser, "@MAIL_USER@", internalUser,
		"@MAIL_GROUP@", mailUser.Gid, "@PASSDB_DRIVER@", "oauth2", "@PASSDB_ARGS@", ext,
		"@PORT@", fmt.Sprint(port)).Replace(dovecotConf))
	if out, err := exec.Command(bin, "-c", conf, "-n").CombinedOutput(); err != nil {
		t.Fatalf("dovecot rejects its test config: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-F", "-c", conf)
	logf, err := os.Create(filepath.Join(dir, "stderr.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// A test binary that dies without its cleanups (a signal, a broken pipe) takes Dovecot along.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Logf("dovecot log:\n%s", log)
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
	t.Fatalf("dovecot did not start; its log:\n%s", log)
	return ""
}

// dovecotConf is the test Dovecot's config, with @NAME@ for what each starter puts in.
//
//go:embed dovecot.conf.in
var dovecotConf string

func writeConf(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func currentUser(t testing.TB) string {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	return u.Username
}

// systemUser is name when it exists, else nobody (as scripts/dovecot.sh does).
func systemUser(name string) string {
	if _, err := user.Lookup(name); err == nil {
		return name
	}
	return "nobody"
}

func chownR(t testing.TB, dir string, u *user.User) {
	var uid, gid int
	fmt.Sscan(u.Uid, &uid)
	fmt.Sscan(u.Gid, &gid)
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	})
	if err != nil && !strings.Contains(err.Error(), "not exist") {
		t.Fatal(err)
	}
}
