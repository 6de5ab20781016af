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
	d := newDovecot(t)
	return d.start(t, "imap", "xoauth2 oauthbearer", "oauth2", d.oauth2(t, introspectURL))
}

// oauth2 writes the oauth2 passdb's settings (tokens checked at introspectURL) and returns
// their file.
func (d *dovecot) oauth2(t testing.TB, introspectURL string) string {
	ext := filepath.Join(d.dir, "dovecot-oauth2.conf.ext")
	writeConf(t, ext, fmt.Sprintf(`introspection_mode = post
introspection_url = %s
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
`, introspectURL))
	return ext
}

// SubmissionDovecot starts a private Dovecot (2.3) whose submission service
// (dovecot-submissiond: PIPELINING, AUTH PLAIN and LOGIN in plain text on loopback) relays
// every message to relay (host:port, an SMTP server the test runs), and returns the submission
// host:port and the one user's login. With introspectURL (a TokenService's) its only logins are
// XOAUTH2 and OAUTHBEARER checked there, as OAuthDovecot's, and user and pass are empty. It is
// stopped when the test ends; a missing dovecot or submission service fails the test.
func SubmissionDovecot(t testing.TB, relay, introspectURL string) (addr, user, pass string) {
	t.Helper()
	if _, err := os.Stat("/usr/lib/dovecot/submission"); err != nil {
		t.Fatal("dovecot's submission service is not installed (Debian package dovecot-submissiond); scripts/test.sh installs it")
	}
	d := newDovecot(t)
	relayHost, relayPort, err := net.SplitHostPort(relay)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	user, pass = "rma@distributor.example", "submission-secret"
	writeConf(t, filepath.Join(d.dir, "passwd"), fmt.Sprintf("%s:{PLAIN}%s::::::\n", user, pass))
	writeConf(t, filepath.Join(d.dir, "extra.conf"), fmt.Sprintf(`hostname = localhost
submission_relay_host = %s
submission_relay_port = %s
submission_relay_ssl = no
service submission-login {
  inet_listener submission {
    address = 127.0.0.1
    port = %d
  }
  chroot =
}
`, relayHost, relayPort, port))
	if introspectURL != "" {
		user, pass = "", ""
		d.start(t, "imap submission", "xoauth2 oauthbearer", "oauth2", d.oauth2(t, introspectURL))
	} else {
		d.start(t, "imap submission", "plain login", "passwd-file", "scheme=PLAIN username_format=%u "+filepath.Join(d.dir, "passwd"))
	}
	addr = fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, addr, d.dir)
	return addr, user, pass
}

// dovecot is a private Dovecot being set up in dir.
type dovecot struct {
	bin, dir                               string
	loginUser, internalUser, mailUser, gid string
}

func newDovecot(t testing.TB) *dovecot {
	t.Helper()
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		bin = "/usr/sbin/dovecot"
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatal("dovecot is not installed (Debian package dovecot-imapd); scripts/test.sh installs it")
	}
	dir, err := os.MkdirTemp("", "rmad-dovecot-")
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
	return &dovecot{bin: bin, dir: dir, loginUser: loginUser, internalUser: internalUser, mailUser: internalUser, gid: mailUser.Gid}
}

// start writes the config (protocols, login mechanisms, passdb) and runs Dovecot until the test
// ends; it returns the IMAP host:port once it listens.
func (d *dovecot) start(t testing.TB, protocols, mechanisms, passdb, passdbArgs string) string {
	t.Helper()
	port := freePort(t)
	conf := filepath.Join(d.dir, "dovecot.conf")
	writeConf(t, conf, strings.NewReplacer("@DIR@", d.dir, "@PROTOCOLS@", protocols, "@MECHANISMS@", mechanisms,
		"@LOGIN_USER@", d.loginUser, "@INTERNAL_USER@", d.internalUser, "@MAIL_USER@", d.mailUser,
		"@MAIL_GROUP@", d.gid, "@PASSDB_DRIVER@", passdb, "@PASSDB_ARGS@", passdbArgs,
		"@PORT@", fmt.Sprint(port)).Replace(dovecotConf))
	if out, err := exec.Command(d.bin, "-c", conf, "-n").CombinedOutput(); err != nil {
		t.Fatalf("dovecot rejects its test config: %v\n%s", err, out)
	}
	cmd := exec.Command(d.bin, "-F", "-c", conf)
	logf, err := os.Create(filepath.Join(d.dir, "stderr.log"))
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
			log, _ := os.ReadFile(filepath.Join(d.dir, "dovecot.log"))
			t.Logf("dovecot log:\n%s", log)
		}
	})
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	waitListening(t, addr, d.dir)
	return addr
}

func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitListening waits until addr takes connections, or fails the test with the log in dir.
func waitListening(t testing.TB, addr, dir string) {
	t.Helper()
	for range 100 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
	t.Fatalf("dovecot does not listen on %s; its log:\n%s", addr, log)
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
