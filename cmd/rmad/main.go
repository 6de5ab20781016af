// Command rmad automates RMA intake for electronics distributors: it reads partner mail and
// webhooks, checks and routes every item, numbers it and answers the partner.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// command is one subcommand; each lives in its own cmd_*.go file and registers itself.
type command struct {
	name  string
	args  string // usage after the name, e.g. "[--json] MAIL.eml..."
	short string
	// run gets the parsed flag set's remaining args; it returns the exit code.
	run   func(env *cliEnv, args []string) int
	flags func(fs *flag.FlagSet) // optional: extra flags
}

// cliEnv is what every command gets: output streams and the config path.
type cliEnv struct {
	stdout, stderr io.Writer
	configPath     string
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

func defaultConfigPath() string {
	if p := os.Getenv("RMAD_CONFIG"); p != "" {
		return p
	}
	return "/etc/rmad/config.yaml"
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				fs := newFlagSet(c, &cliEnv{})
				fs.SetOutput(stdout)
				fs.Usage()
				return 0
			}
		}
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "rmad: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	env := &cliEnv{stdout: stdout, stderr: stderr}
	fs := newFlagSet(c, env)
	fs.SetOutput(stderr)
	if err := fs.Parse(args[1:]); err != nil {
		if err == flag.ErrHelp {
			return 0
		}
		return 2
	}
	return c.run(env, fs.Args())
}

func newFlagSet(c *command, env *cliEnv) *flag.FlagSet {
	fs := flag.NewFlagSet("rmad "+c.name, flag.ContinueOnError)
	fs.StringVar(&env.configPath, "config", defaultConfigPath(), "configuration `file` ($RMAD_CONFIG, else /etc/rmad/config.yaml)")
	if c.flags != nil {
		c.flags(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: rmad %s [--config FILE] %s\n\n%s\n\nflags:\n", c.name, c.args, c.short)
		fs.PrintDefaults()
	}
	return fs
}

// about is rmad in one line: the help's first line and the man page's NAME.
const about = "RMA intake daemon for electronics distributors"

// sortedCommands is every command by name: for the help, the man page and the completion.
func sortedCommands() []*command {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	list := make([]*command, len(names))
	for i, n := range names {
		list[i] = commands[n]
	}
	return list
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "rmad: "+about+"\n\nusage: rmad COMMAND [flags] [args]\n\ncommands:")
	for _, c := range sortedCommands() {
		fmt.Fprintf(w, "  %-14s %s\n", c.name, c.short)
	}
	fmt.Fprintln(w, "\nEvery command takes --config FILE. `rmad help COMMAND` or `rmad COMMAND --help` for details.")
}
