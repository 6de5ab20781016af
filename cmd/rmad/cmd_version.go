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
			v := version
			if v == "" {
				v = "devel"
				if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
					v = bi.Main.Version
				}
			}
			fmt.Fprintf(env.stdout, "rmad %s (%s)\n", v, runtime.Version())
			return 0
		},
	})
}
