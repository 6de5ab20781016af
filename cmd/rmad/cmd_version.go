package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at build time with -ldflags "-X main.version=..."; else the module version.
var version = ""

func init() {
	register(&command{
		name:  "version",
		short: "print rmad's version",
		run: func(env *cliEnv, _ []string) int {
			fmt.Fprintf(env.stdout, "rmad %s (%s)\n", versionString(), runtime.Version())
			return 0
		},
	})
}

// versionString is the version make build and make deb set (scripts/version.sh, from git
// describe), else the module's, else "devel".
func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}
