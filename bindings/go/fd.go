package splinter

/*
#include "gospl.h"
*/
import "C"

import (
	"net"
	"syscall"
)

// SendFd passes the store's descriptor over a connected unix socket
// (SCM_RIGHTS, spl_fd_send); the peer attaches with RecvFd.
func (s *Store) SendFd(conn *net.UnixConn) error {
	if s.s == nil {
		return s.closed("sendFd", "")
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var rc C.int
	err = raw.Write(func(sock uintptr) bool {
		rc = C.spl_fd_send(C.int(sock), C.spl_fd(s.s))
		return rc != C.SPL_EAGAIN && rc != -C.EWOULDBLOCK
	})
	if err != nil {
		return err
	}
	return mkerr("sendFd", "", rc)
}

// RecvFd receives a store descriptor sent with SendFd (or spl_fd_send by
// any process) and attaches to it (o: ReadOnly, Retry, NoRetry).
func RecvFd(conn *net.UnixConn, o *Options) (*Store, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return nil, err
	}
	var rc C.int
	var fd C.int = -1
	err = raw.Read(func(sock uintptr) bool {
		rc = C.spl_fd_recv(C.int(sock), &fd)
		return rc != C.SPL_EAGAIN && rc != -C.EWOULDBLOCK
	})
	if err != nil {
		return nil, err
	}
	if rc < 0 {
		return nil, mkerr("recvFd", "", rc)
	}
	defer syscall.Close(int(fd))
	return OpenFd(int(fd), o)
}
