package daemon

import sd "github.com/coreos/go-systemd/v22/daemon"

// NotifyReady tells systemd (Type=notify) that rmad is up; a no-op outside systemd.
func NotifyReady() { _, _ = sd.SdNotify(false, sd.SdNotifyReady) }

// NotifyReloading tells systemd a SIGHUP reload is in progress.
func NotifyReloading() { _, _ = sd.SdNotify(false, sd.SdNotifyReloading) }

// NotifyStopping tells systemd rmad is shutting down.
func NotifyStopping() { _, _ = sd.SdNotify(false, sd.SdNotifyStopping) }
