//go:build !linux

package mmsg

type sysScratch struct{}
