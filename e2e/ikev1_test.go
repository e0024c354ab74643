package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/gateway"
	"github.com/vpgw/vpgw/lab"
)

// awsDefaultV1 is the IKEv1 customer gateway of AWS's downloadable
// configuration: aes128-sha1-modp1024 with PFS, 8 h / 1 h, DPD 10 s / 30 s.
func awsDefaultV1(name, psk string) lab.CharonConfig {
	return lab.CharonConfig{
		Name: name, IKEVersion: 1, PSK: psk,
		IKEProposal: "aes128-sha1-modp1024", ESPProposal: "aes128-sha1-modp1024",
		IKERekeyTime: 8 * time.Hour, ChildRekeyTime: time.Hour - 9*time.Minute, ChildLifeTime: time.Hour,
		DPDDelay: 10 * time.Second, DPDTimeout: 30 * time.Second,
	}
}

func isUp(s gateway.TunnelStatus) bool   { return s.Status == gateway.StateUp }
func isDown(s gateway.TunnelStatus) bool { return s.Status == gateway.StateDown }

// TestIKEv1AgainstStrongSwan runs strongSwan as an IKEv1 Main Mode customer
// gateway against vpgw's tunnel 1; tunnel 2 is limited to IKEv2.
func TestIKEv1AgainstStrongSwan(t *testing.T) {
	l := newLab(t, "vpgw-e2e1", false)
	t1, t2 := defaultTunnels()
	t2.extra = append(t2.extra, "ike_versions: [ikev2]")
	v := startVPGW(t, l, labConfig(l.Dir()+"/vpgw", lab.CGWWANIP, t1, t2))

	pingBothWays := func(t *testing.T) {
		t.Helper()
		if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
			t.Fatalf("VPC → on-prem: %v", err)
		}
		if err := l.Ping(lab.RoleVPC, lab.OnpremIP, 5); err != nil {
			t.Errorf("VPC → on-prem: %v", err)
		}
		if err := l.Ping(lab.RoleOnprem, lab.VPCIP, 5); err != nil {
			t.Errorf("on-prem → VPC: %v", err)
		}
	}
	upAsV1 := func(t *testing.T) {
		t.Helper()
		st := v.waitTunnel(t, 1, 30*time.Second, "UP", isUp)
		if st.IKEVersion != "ikev1" || st.Phase1State != "ESTABLISHED" || st.Phase2State != "INSTALLED" || !st.NATT {
			t.Errorf("tunnel 1 UP but status = %+v; want ikev1, phase 1 ESTABLISHED, phase 2 INSTALLED, nat_t", st)
		}
	}

	for i, p := range []lab.CharonConfig{
		awsDefaultV1("aws-default", labPSK),
		{Name: "aes256-gcm", IKEVersion: 1, PSK: labPSK, IKEProposal: "aes256-sha256-modp2048", ESPProposal: "aes256gcm16"},
	} {
		t.Run(p.Name, func(t *testing.T) {
			ch, err := l.StartCharon(p)
			if err != nil {
				t.Fatal(err)
			}
			defer ch.Stop()
			logOnFailure(t, ch)
			upAsV1(t)
			if !hasRoute(v.routes(), "172.16.0.0/24", "vpn-1-t1") {
				t.Fatalf("no route via vpn-1-t1 while UP:\n%s", v.routes())
			}
			pingBothWays(t)
			if err := ch.Terminate("t1"); err != nil {
				t.Fatal(err)
			}
			st := v.waitTunnel(t, 1, 10*time.Second, "DOWN", isDown)
			if !strings.Contains(st.StatusMessage, "deleted by peer") {
				t.Errorf("case %d: after the peer's DELETE status_message = %q, want 'deleted by peer'", i, st.StatusMessage)
			}
			if hasRoute(v.routes(), "172.16.0.0/24", "vpn-1-t1") {
				t.Errorf("route still installed after DOWN:\n%s", v.routes())
			}
		})
	}

	t.Run("rekeys-and-reauth-lose-no-packet", func(t *testing.T) {
		ch, err := l.StartCharon(awsDefaultV1("rekey", labPSK))
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Stop()
		logOnFailure(t, ch)
		upAsV1(t)
		if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		pg := startPing(t, l, lab.RoleVPC, lab.OnpremIP, 100*time.Millisecond)
		time.Sleep(2 * time.Second)
		for i := 0; i < 3; i++ {
			if _, err := ch.Swanctl("--rekey", "--child", "t1"); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
		}
		if _, err := ch.Swanctl("--rekey", "--ike", "t1", "--reauth"); err != nil {
			t.Fatal(err)
		}
		time.Sleep(4 * time.Second)
		sent, received := pg.stop(t)
		t.Logf("continuous ping through 3 CHILD rekeys and 1 re-authentication: %d sent, %d received", sent, received)
		if sent < 50 || received != sent {
			t.Errorf("lost %d of %d pings across the rekeys", sent-received, sent)
		}
		if st := v.tunnel(t, 1); st.Status != gateway.StateUp {
			t.Errorf("after the rekeys tunnel 1 is %s (%s)", st.Status, st.StatusMessage)
		}
		ch.Terminate("t1")
		v.waitTunnel(t, 1, 10*time.Second, "DOWN", isDown)
	})

	t.Run("wrong-psk", func(t *testing.T) {
		ch, err := l.StartCharon(awsDefaultV1("badpsk", "not.the.right.psk"))
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Stop()
		logOnFailure(t, ch)
		v.waitTunnel(t, 1, 30*time.Second, "DOWN with an authentication message", func(s gateway.TunnelStatus) bool {
			return isDown(s) && strings.Contains(strings.ToLower(s.StatusMessage), "authentication failed")
		})
		if log := v.proc.Tail(1 << 20); strings.Contains(log, "not.the.right.psk") || strings.Contains(log, labPSK) {
			t.Errorf("vpgw's log contains a PSK")
		}
	})

	t.Run("ikev2-only-tunnel-refuses-ikev1", func(t *testing.T) {
		c := awsDefaultV1("v1to2", labPSK2)
		c.RemoteAddrs = []string{lab.VGWOutside2}
		ch, err := l.StartCharon(c)
		if err != nil {
			t.Fatal(err)
		}
		defer ch.Stop()
		logOnFailure(t, ch)
		st := v.waitTunnel(t, 2, 30*time.Second, "DOWN with a refusal", func(s gateway.TunnelStatus) bool {
			return isDown(s) && strings.Contains(s.StatusMessage, "IKEv1 refused")
		})
		if !strings.Contains(st.StatusMessage, "ikev2") {
			t.Errorf("refusal message %q does not say what the tunnel accepts", st.StatusMessage)
		}
	})
}

// TestIKEv1IdleDPDBothWays keeps two idle IKEv1 tunnels for 60 s with DPD on
// both sides: on tunnel 1 strongSwan asks first (dpd_delay 5 s) and vpgw
// answers; on tunnel 2 strongSwan waits 30 s, so vpgw (10 s) asks and
// strongSwan answers. Both must stay UP throughout.
func TestIKEv1IdleDPDBothWays(t *testing.T) {
	l := newLab(t, "vpgw-e2e1dpd", false)
	t1, t2 := defaultTunnels()
	v := startVPGW(t, l, labConfig(l.Dir()+"/vpgw", lab.CGWWANIP, t1, t2))
	c := awsDefaultV1("cgw", labPSK)
	c.Connections = []lab.CharonConn{
		{Name: "t1", RemoteAddr: lab.VGWOutside1, PSK: labPSK, DPDDelay: 5 * time.Second},
		{Name: "t2", RemoteAddr: lab.VGWOutside2, PSK: labPSK2, DPDDelay: 30 * time.Second},
	}
	ch, err := l.StartCharon(c)
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	logOnFailure(t, ch)
	var since [2]time.Time
	for i := range since {
		since[i] = v.waitTunnel(t, i+1, 30*time.Second, "UP", isUp).LastStatusChange
	}
	time.Sleep(60 * time.Second)
	for i := range since {
		if st := v.tunnel(t, i+1); st.Status != gateway.StateUp || !st.LastStatusChange.Equal(since[i]) {
			t.Errorf("idle tunnel %d with DPD did not stay UP for 60 s: %+v", i+1, st)
		}
	}
	for _, child := range []string{"t1", "t2"} {
		if ok, _ := ch.ChildInstalled(child); !ok {
			t.Errorf("strongSwan lost CHILD_SA %s while idle", child)
		}
	}
	log := v.proc.Tail(1 << 22)
	if n := countLines(log, "tunnel=vpn-1/1", "R-U-THERE answered"); n < 5 {
		t.Errorf("tunnel 1: vpgw answered %d R-U-THEREs from strongSwan in 60 s, want ≥ 5", n)
	}
	if n := countLines(log, "tunnel=vpn-1/2", "R-U-THERE-ACK received"); n < 3 {
		t.Errorf("tunnel 2: strongSwan answered %d of vpgw's R-U-THEREs in 60 s, want ≥ 3", n)
	}
	if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
		t.Errorf("after 60 s idle: %v", err)
	}
}

func countLines(log string, needles ...string) int {
	n := 0
	for _, line := range strings.Split(log, "\n") {
		all := true
		for _, nd := range needles {
			all = all && strings.Contains(line, nd)
		}
		if all {
			n++
		}
	}
	return n
}

// TestIKEv1BehindNAT: AWS's default IKEv1 customer gateway behind an
// nftables masquerade.
func TestIKEv1BehindNAT(t *testing.T) {
	l := newLab(t, "vpgw-e2e1nat", true)
	t1, t2 := defaultTunnels()
	v := startVPGW(t, l, labConfig(l.Dir()+"/vpgw", l.CGWPublicIP(), t1, t2))
	ch, err := l.StartCharon(awsDefaultV1("cgw", labPSK))
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	logOnFailure(t, ch)
	st := v.waitTunnel(t, 1, 30*time.Second, "UP", isUp)
	if st.IKEVersion != "ikev1" || !st.NATT {
		t.Errorf("behind NAT: status %+v, want ikev1 with nat_t", st)
	}
	if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
		t.Fatalf("VPC → on-prem through the NAT: %v", err)
	}
	if err := l.Ping(lab.RoleOnprem, lab.VPCIP, 5); err != nil {
		t.Errorf("on-prem → VPC through the NAT: %v", err)
	}
}
