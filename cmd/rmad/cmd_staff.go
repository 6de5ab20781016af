package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/rmad/rmad/config"
	"github.com/rmad/rmad/web/console/staff"
)

// staffStdin is where passwords come from (tests replace it).
var staffStdin io.Reader = os.Stdin

var staffRole, staffName string

func init() {
	register(&command{
		name:  "staff",
		args:  "add|passwd|disable|enable USER [--role agent|admin] [--name NAME]",
		short: "manage the console's staff accounts (console.staff_file); the password is prompted, or read from stdin",
		flags: func(fs *flag.FlagSet) {
			fs.StringVar(&staffRole, "role", "", "role of the account: agent (default for add) or admin")
			fs.StringVar(&staffName, "name", "", "display name (default: the username)")
		},
		run: runStaff,
	})
}

func runStaff(env *cliEnv, args []string) int {
	args, err := trailingFlags(args, func(fs *flag.FlagSet) {
		fs.Func("role", "", func(v string) error { staffRole = v; return nil })
		fs.Func("name", "", func(v string) error { staffName = v; return nil })
		fs.Func("config", "", func(v string) error { env.configPath = v; return nil })
	})
	if err != nil || len(args) != 2 {
		fmt.Fprintln(env.stderr, "usage: rmad staff add|passwd|disable|enable USER [--role agent|admin] [--name NAME]")
		return 2
	}
	verb, user := args[0], strings.ToLower(strings.TrimSpace(args[1]))
	if err := staff.CheckUsername(user); err != nil {
		fmt.Fprintf(env.stderr, "rmad staff: %v\n", err)
		return 2
	}
	if staffRole != "" && staffRole != staff.RoleAgent && staffRole != staff.RoleAdmin {
		fmt.Fprintf(env.stderr, "rmad staff: --role %q: want agent or admin\n", staffRole)
		return 2
	}
	cfg, err := config.Load(env.configPath)
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad staff: %v\n", err)
		return 1
	}
	path := cfg.Console.StaffFile
	if path == "" {
		fmt.Fprintf(env.stderr, "rmad staff: console.staff_file is not set in %s\n", env.configPath)
		return 1
	}
	f, err := staff.Load(path)
	if err != nil {
		fmt.Fprintf(env.stderr, "rmad staff: %v\n", err)
		return 1
	}
	acct, exists := f.Find(user)
	switch verb {
	case "add":
		if exists {
			fmt.Fprintf(env.stderr, "rmad staff: %s already exists (rmad staff passwd %s changes the password)\n", user, user)
			return 1
		}
		hash, err := newPassword(env, user)
		if err != nil {
			fmt.Fprintf(env.stderr, "rmad staff: %v\n", err)
			return 1
		}
		a := staff.Account{Username: user, Name: staffName, Role: staffRole, PasswordHash: hash}
		if a.Name == "" {
			a.Name = user
		}
		if a.Role == "" {
			a.Role = staff.RoleAgent
		}
		f.Staff = append(f.Staff, a)
	case "passwd", "disable", "enable":
		if !exists {
			fmt.Fprintf(env.stderr, "rmad staff: no account %s in %s\n", user, path)
			return 1
		}
		switch verb {
		case "passwd":
			hash, err := newPassword(env, user)
			if err != nil {
				fmt.Fprintf(env.stderr, "rmad staff: %v\n", err)
				return 1
			}
			acct.PasswordHash = hash
		case "disable":
			acct.Disabled = true
		case "enable":
			acct.Disabled = false
		}
		if staffRole != "" {
			acct.Role = staffRole
		}
		if staffName != "" {
			acct.Name = staffName
		}
	default:
		fmt.Fprintf(env.stderr, "rmad staff: unknown action %q: want add, passwd, disable or enable\n", verb)
		return 2
	}
	if err := f.Save(path); err != nil {
		fmt.Fprintf(env.stderr, "rmad staff: %v\n", err)
		return 1
	}
	fmt.Fprintf(env.stdout, "%s: %s done in %s (sessions of a disabled account end at their next request)\n", user, verb, path)
	return 0
}

// newPassword prompts twice without echo on a terminal, else reads one line from stdin.
func newPassword(env *cliEnv, user string) (string, error) {
	var pw string
	if f, ok := staffStdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(env.stderr, "password for %s: ", user)
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(env.stderr, "again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(env.stderr)
		if err != nil {
			return "", err
		}
		if string(a) != string(b) {
			return "", errors.New("the passwords differ; nothing changed")
		}
		pw = string(a)
	} else {
		line, err := bufio.NewReader(staffStdin).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read the password from stdin: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	if len([]rune(pw)) < staff.MinPasswordLen {
		return "", fmt.Errorf("the password is too short: at least %d characters", staff.MinPasswordLen)
	}
	return staff.Hash(pw)
}
