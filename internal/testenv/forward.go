package testenv

import "net"

// Forward accepts TCP connections on a free loopback port and dials target for each; pipe
// moves the bytes of one pair both ways (the proxies of the tests and of rmadbench differ only
// there). It runs until ln is closed; a target that cannot be dialled drops that client.
func Forward(target string, pipe func(client, server net.Conn)) (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			pipe(c, s)
		}
	}()
	return ln, nil
}
