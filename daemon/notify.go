package daemon

import (
	"strconv"

	sd "github.com/coreos/go-systemd/v22/daemon"
	"golang.org/x/sys/unix"
)

// NotifyReady tells systemd (Type=notify) that rmad is up; a no-op outside systemd.
func NotifyReady() { _, _ = sd.SdNotify(false, sd.SdNotifyReady) }

// NotifyReloading tells systemd a SIGHUP reload is in progress. systemd (253+) wants the
// monotonic clock with it, to tell this reload from an earlier one.
func NotifyReloading() {
	_, _ = sd.SdNotify(false, sd.SdNotifyReloading+"\nMONOTONIC_USEC="+monotonicUsec())
}

func monotonicUsec() string {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return "0"
	}
	return strconv.FormatInt(ts.Nano()/1000, 10)
}

// NotifyStopping tells systemd rmad is shutting down.
func NotifyStopping() { _, _ = sd.SdNotify(false, sd.SdNotifyStopping) }
