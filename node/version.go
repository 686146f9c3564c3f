package node

import (
	"runtime/debug"
	"sync"
)

// ReleaseVersion is the version of this source tree. Builds from a git checkout add
// the commit (see Version).
const ReleaseVersion = "0.1.0-dev"

// Version is ReleaseVersion plus the VCS revision Go stamped into the binary, if any
// ("0.1.0-dev+1a2b3c4d", "+dirty" when built from modified sources).
var Version = sync.OnceValue(func() string {
	v := ReleaseVersion
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return v
	}
	var rev string
	var dirty bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev != "" {
		v += "+" + rev
		if dirty {
			v += ".dirty"
		}
	}
	return v
})
