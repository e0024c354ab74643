package ike

import (
	"net/netip"
	"time"

	"github.com/vpgw/vpgw/suite"
)

// Version names the IKE version of an SA as status shows it.
type Version string

const (
	IKEv1 Version = "ikev1"
	IKEv2 Version = "ikev2"
)

// ChildKeys is the key material of one direction of an ESP SA.
type ChildKeys struct {
	Encr  []byte // includes the 4-byte salt for AES-GCM
	Integ []byte // empty for AEAD ciphers
}

// ChildSA is a negotiated pair of ESP SAs, handed to the gateway to install.
type ChildSA struct {
	Tunnel     string
	IKEVersion Version
	InSPI      uint32 // SPI we chose: the peer sends with it
	OutSPI     uint32 // SPI the peer chose: we send with it
	ESP        suite.ESP
	InKeys     ChildKeys
	OutKeys    ChildKeys
	Local      netip.AddrPort // our outside address and port (4500 when UDP-encapsulated)
	Remote     netip.AddrPort // where to send ESP
	UDPEncap   bool           // NAT-T: ESP in UDP 4500 (RFC 3948)
	LocalTS    []netip.Prefix // VPC side
	RemoteTS   []netip.Prefix // customer side
	Lifetime   time.Duration
}

// Event is what ike tells the gateway about a tunnel. The concrete types
// below are the whole set; the gateway switches on them.
type Event interface{ TunnelName() string }

// IKEUp: an IKE SA is established and authenticated.
type IKEUp struct {
	Tunnel  string
	Version Version
	Remote  netip.AddrPort
	NATT    bool
}

// IKEDown: the IKE SA is gone (deleted, expired, dead peer); its CHILD_SAs
// are reported with ChildDown first.
type IKEDown struct {
	Tunnel string
	Reason string
}

// ChildUp: a CHILD_SA is ready to carry traffic.
type ChildUp struct{ Child ChildSA }

// ChildDown: a CHILD_SA was deleted or expired.
type ChildDown struct {
	Tunnel        string
	InSPI, OutSPI uint32
	Reason        string
}

// NegotiationFailed: an exchange with the peer failed (no proposal chosen,
// authentication failed, ...). Reason is written for the operator and
// becomes the tunnel's status_message.
type NegotiationFailed struct {
	Tunnel string
	Reason string
}

func (e IKEUp) TunnelName() string             { return e.Tunnel }
func (e IKEDown) TunnelName() string           { return e.Tunnel }
func (e ChildUp) TunnelName() string           { return e.Child.Tunnel }
func (e ChildDown) TunnelName() string         { return e.Tunnel }
func (e NegotiationFailed) TunnelName() string { return e.Tunnel }

// PeerDead: dead peer detection got no answer within the DPD timeout and
// dpd_timeout_action is "none", so the SAs are kept (and probing goes on).
// With "clear" or "restart" the SAs go instead, reported by ChildDown and
// IKEDown.
type PeerDead struct {
	Tunnel string
	Reason string
}

func (e PeerDead) TunnelName() string { return e.Tunnel }
