package main

import (
	"net"
	"os"
)

// sdNotify tells systemd (Type=notify) about the daemon's state, e.g.
// "READY=1" once the control socket answers. Without $NOTIFY_SOCKET it
// does nothing.
func sdNotify(state string) error {
	path := os.Getenv("NOTIFY_SOCKET")
	if path == "" {
		return nil
	}
	if path[0] == '@' {
		path = "\x00" + path[1:] // abstract socket
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Write([]byte(state))
	return err
}
