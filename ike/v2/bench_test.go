package v2

import (
	"crypto/rand"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/vpgw/vpgw/ike"
	"github.com/vpgw/vpgw/suite"
)

// BenchmarkHandshake is one IKE SA with its first CHILD_SA set up in memory
// between a vpgw initiator and a vpgw responder (IKE_SA_INIT, IKE_AUTH;
// aes128/sha2-256, ESP aes128-gcm-16), per DH group: the CPU both ends
// spend on one SA, without sockets. ns/op covers both sides.
func BenchmarkHandshake(b *testing.B) {
	for _, g := range []suite.DHGroup{modp2048, ecp256, x25519} {
		b.Run(ike.GroupName(g), func(b *testing.B) {
			pol := ike.Policy{Ciphers: []suite.Cipher{cbc128}, Integs: []suite.Integ{integSHA256}, DHGroups: []suite.DHGroup{g}}
			esp := ike.Policy{Ciphers: []suite.Cipher{gcm128}}
			log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
			b.ReportAllocs()
			for b.Loop() {
				var wire []benchPkt
				send := func(toResp bool) SendFunc {
					return func(pkt []byte, local, remote netip.AddrPort) error {
						wire = append(wire, benchPkt{append([]byte(nil), pkt...), local, remote, toResp})
						return nil
					}
				}
				evI, evR := make(chan ike.Event, 8), make(chan ike.Event, 8)
				clock := newFakeClock()
				resp := NewResponder(Config{Tunnel: "t1", Local: vgwAddr, Peer: cgwAddr, PSK: testPSK, IKE: pol, ESP: esp,
					IKELifetime: 8 * time.Hour, ChildLifetime: time.Hour}, send(false), evR, clock, rand.Reader, log)
				init := NewResponder(Config{Tunnel: "c1", Local: cgwAddr, Peer: vgwAddr, PSK: testPSK, IKE: pol, ESP: esp,
					IKELifetime: 8 * time.Hour, ChildLifetime: time.Hour}, send(true), evI, clock, rand.Reader, log)
				if err := init.Initiate(); err != nil {
					b.Fatal(err)
				}
				for len(wire) > 0 {
					w := wire[0]
					wire = wire[1:]
					if w.toResp {
						resp.HandlePacket(w.pkt, w.remote, w.local)
					} else {
						init.HandlePacket(w.pkt, w.remote, w.local)
					}
				}
				if len(evR) != 2 || len(evI) != 2 {
					b.Fatalf("events: responder %d, initiator %d, want IKE and CHILD up on both", len(evR), len(evI))
				}
				resp.Close()
				init.Close()
			}
		})
	}
}

type benchPkt struct {
	pkt           []byte
	local, remote netip.AddrPort
	toResp        bool
}
