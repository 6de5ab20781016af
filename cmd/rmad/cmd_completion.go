package main

import (
	"flag"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

func init() {
	register(&command{
		name:  "completion",
		args:  "bash",
		short: "print the bash completion script (commands, their flags and words, file names)",
		run:   runCompletion,
	})
}

func runCompletion(env *cliEnv, args []string) int {
	if len(args) != 1 || args[0] != "bash" {
		fmt.Fprintln(env.stderr, "rmad completion: say which shell: rmad completion bash")
		return 2
	}
	writeBashCompletion(env.stdout)
	return 0
}

// literalWord is a word to type as it is in a command's args usage ("digest|reminders",
// "[list | retry ID]"): lower case, unlike the placeholders (ID, QUERY) and the --flags.
var literalWord = regexp.MustCompile(`^[a-z][a-z0-9-]*$`)

// commandWords lists the literal words of a command's args usage, once each, in order.
func commandWords(args string) []string {
	var words []string
	for _, tok := range strings.FieldsFunc(args, func(r rune) bool { return strings.ContainsRune(" |[]", r) }) {
		if literalWord.MatchString(tok) && !slices.Contains(words, tok) {
			words = append(words, tok)
		}
	}
	return words
}

// writeBashCompletion prints a bash completion script built from the command list and each
// command's flag set, as `rmad help` and `rmad COMMAND --help` show them.
func writeBashCompletion(w io.Writer) {
	var names, fileValues, otherValues []string
	var perCommand strings.Builder
	for _, c := range sortedCommands() {
		names = append(names, c.name)
		var flags []string
		newFlagSet(c, &cliEnv{}).VisitAll(func(f *flag.Flag) {
			flags = append(flags, "--"+f.Name)
			if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
				return
			}
			// The flag's value: a path when its help calls it a file or folder, else free text.
			pattern := c.name + `\ --` + f.Name
			if valueName, _ := flag.UnquoteUsage(f); valueName == "file" || valueName == "folder" {
				fileValues = append(fileValues, pattern)
			} else {
				otherValues = append(otherValues, pattern)
			}
		})
		fmt.Fprintf(&perCommand, "    %s) flags=%q; words=%q ;;\n", c.name, strings.Join(flags, " "), strings.Join(commandWords(c.args), " "))
	}
	valueFlags := "    " + strings.Join(fileValues, "|") + ") COMPREPLY=($(compgen -f -- \"$cur\")); return ;;\n"
	if len(otherValues) > 0 {
		valueFlags += "    " + strings.Join(otherValues, "|") + ") return ;;\n"
	}
	fmt.Fprintf(w, `# bash completion for rmad (made by: rmad completion bash)
_rmad() {
  local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
  local commands=%q
  COMPREPLY=()
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "$commands help" -- "$cur")); return
  fi
  local cmd=${COMP_WORDS[1]} flags="" words=""
  if [ "$cmd" = help ]; then
    [ "$COMP_CWORD" -eq 2 ] && COMPREPLY=($(compgen -W "$commands" -- "$cur")); return
  fi
  # The value of a flag that takes one: a file name, or nothing to offer.
  case "$cmd $prev" in
%s  esac
  case "$cmd" in
%s  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  else
    COMPREPLY=($(compgen -W "$words" -- "$cur") $(compgen -f -- "$cur"))
  fi
}
complete -o filenames -F _rmad rmad
`, strings.Join(names, " "), valueFlags, perCommand.String())
}
