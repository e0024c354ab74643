package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vpgw/vpgw/gateway"
	"github.com/vpgw/vpgw/lab"
)

// Flood parameters: the generator stops by itself after floodSeconds or
// floodRate*floodSeconds packets, whichever comes first.
const (
	floodRate    = 6000 // packets a second, all kinds together
	floodSeconds = 12
	floodRSSMax  = 200 << 20 // bytes
)

// floodScript runs in the wan namespace. It sends, paced to a total rate:
//
//   - IKE_SA_INIT requests acceptable to tunnel 1 (aes128-sha256-modp2048,
//     random SPIi, KE and Ni), with spoofed sources: the customer gateway's
//     address with random ports (and sometimes its port 500), other
//     198.51.100.0/24 addresses, and the wan's own address;
//   - garbage UDP to ports 500 and 4500;
//   - ESP with random SPIs, in UDP 4500 and as IP protocol 50.
//
// Spoofing uses a raw IPPROTO_RAW socket (IP_HDRINCL): the kernel fills in
// the IP checksum, length and ID. The last line it prints is "FLOOD {json}".
const floodScript = `
import json, os, random, socket, struct, sys, time

rate, seconds, dst = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
limit = int(rate * seconds)
cgw = "198.51.100.2"
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
own = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
own.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
dst_b = socket.inet_aton(dst)

def ip(src, proto, payload):
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), 0, 0, 64, proto, 0,
                       socket.inet_aton(src), dst_b) + payload

def udp(src, sport, dport, payload):
    return ip(src, 17, struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload)

def transform(last, ttype, tid, attrs=b""):
    return struct.pack("!BBHBBH", 0 if last else 3, 0, 8 + len(attrs), ttype, 0, tid) + attrs

def sa_init():
    ts = (transform(False, 1, 12, struct.pack("!HH", 0x800E, 128)) +  # ENCR_AES_CBC 128
          transform(False, 2, 5) +                                      # PRF_HMAC_SHA2_256
          transform(False, 3, 12) +                                     # AUTH_HMAC_SHA2_256_128
          transform(True, 4, 14))                                       # modp2048
    prop = struct.pack("!BBHBBBB", 0, 0, 8 + len(ts), 1, 1, 0, 4) + ts
    sa = struct.pack("!BBH", 34, 0, 4 + len(prop)) + prop
    ke_data = os.urandom(256)
    ke = struct.pack("!BBHHH", 40, 0, 8 + len(ke_data), 14, 0) + ke_data
    nonce = struct.pack("!BBH", 0, 0, 36) + os.urandom(32)
    body = sa + ke + nonce
    hdr = os.urandom(8) + bytes(8) + struct.pack("!BBBBII", 33, 0x20, 34, 0x08, 0, 28 + len(body))
    return hdr + body

def esp():
    spi = random.randrange(256, 1 << 32)
    return struct.pack("!II", spi, random.randrange(1, 1 << 32)) + os.urandom(random.randrange(48, 200))

def sport():
    return random.randrange(1025, 65536)

kinds = [  # name, weight, make (socket, packet, address)
    ("ike_init_cgw_spoofed", 40, lambda: (raw, udp(cgw, sport(), 500, sa_init()), (dst, 0))),
    ("ike_init_cgw500_spoofed", 2, lambda: (raw, udp(cgw, 500, 500, sa_init()), (dst, 0))),
    ("ike_init_net_spoofed", 8, lambda: (raw, udp("198.51.100.%d" % random.randrange(3, 255), sport(), 500, sa_init()), (dst, 0))),
    ("ike_init_own", 5, lambda: (own, sa_init(), (dst, 500))),
    ("garbage_500", 10, lambda: (raw, udp(cgw, sport(), 500, os.urandom(random.randrange(1, 300))), (dst, 0))),
    ("garbage_4500", 10, lambda: (raw, udp(cgw, sport(), 4500, os.urandom(random.randrange(1, 300))), (dst, 0))),
    ("garbage_own", 5, lambda: (own, os.urandom(random.randrange(1, 300)), (dst, random.choice((500, 4500))))),
    ("esp_udp4500", 10, lambda: (raw, udp(cgw, sport(), 4500, esp()), (dst, 0))),
    ("esp_raw50", 10, lambda: (raw, ip(cgw, 50, esp()), (dst, 0))),
]
names = [k[0] for k in kinds]
weights = [k[1] for k in kinds]
makers = [k[2] for k in kinds]
counts = dict.fromkeys(names, 0)
errors = 0
start = time.monotonic()
sent = 0
while sent < limit:
    now = time.monotonic() - start
    if now >= seconds:
        break
    due = min(limit, int(now * rate) + 1)
    if sent >= due:
        time.sleep(0.0005)
        continue
    for i in random.choices(range(len(kinds)), weights, k=due - sent):
        sock, pkt, addr = makers[i]()
        try:
            sock.sendto(pkt, addr)
            counts[names[i]] += 1
        except OSError:
            errors += 1
        sent += 1
elapsed = time.monotonic() - start
print("FLOOD " + json.dumps({"sent": sent, "errors": errors, "seconds": round(elapsed, 2),
                             "pps": round(sent / elapsed), "kinds": counts}), flush=True)
`

type floodStats struct {
	Sent    int            `json:"sent"`
	Errors  int            `json:"errors"`
	Seconds float64        `json:"seconds"`
	PPS     int            `json:"pps"`
	Kinds   map[string]int `json:"kinds"`
}

// rssOf returns a VmRSS or VmHWM (peak) figure of a process, in bytes.
func rssOf(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb << 10, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// TestFloodResistance floods vpgw's outside addresses from the wan
// namespace (spoofed IKE_SA_INITs, garbage, random ESP) while a real
// strongSwan customer gateway connects: it must come UP through the
// IKEv2 cookie exchange, carry pings both ways, and vpgw's memory must
// stay bounded.
func TestFloodResistance(t *testing.T) {
	l := newLab(t, "vpgw-e2eflood", false)
	t1, t2 := defaultTunnels()
	v := startVPGW(t, l, labConfig(l.Dir()+"/vpgw", lab.CGWWANIP, t1, t2))
	rss0, err := rssOf(v.proc.PID, "VmRSS")
	if err != nil {
		t.Fatal(err)
	}

	script := filepath.Join(l.Dir(), "flood.py")
	if err := os.WriteFile(script, []byte(floodScript), 0o600); err != nil {
		t.Fatal(err)
	}
	floodStart := time.Now()
	gen, err := l.Start(lab.RoleWAN, "flood", nil, "python3", script,
		strconv.Itoa(floodRate), strconv.Itoa(floodSeconds), lab.VGWOutside1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gen.Stop() }) // normally long gone: it stops itself

	// Sample vpgw's RSS while the flood runs.
	var rssMax int64
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			if rss, err := rssOf(v.proc.PID, "VmRSS"); err == nil {
				rssMax = max(rssMax, rss)
			}
			select {
			case <-stopSampling:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() {
		select {
		case <-stopSampling:
		default:
			close(stopSampling)
		}
		<-sampled
	}()

	// Let the flood build up pressure, then bring the customer gateway in.
	time.Sleep(2 * time.Second)
	if !gen.Running() {
		t.Fatalf("flood generator stopped early: %v\n%s", gen.Err(), gen.Tail(2000))
	}
	chStart := time.Now()
	ch, err := l.StartCharon(lab.CharonConfig{Name: "cgw", PSK: labPSK})
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Stop()
	logOnFailure(t, ch)
	v.waitTunnel(t, 1, 30*time.Second, "UP under flood", func(s gateway.TunnelStatus) bool { return s.Status == gateway.StateUp })
	timeToUp := time.Since(chStart)
	if err := ch.WaitChild("t1", 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := l.WaitPing(lab.RoleVPC, lab.OnpremIP, 10*time.Second); err != nil {
		t.Fatalf("VPC → on-prem under flood: %v", err)
	}
	if err := l.Ping(lab.RoleVPC, lab.OnpremIP, 5); err != nil {
		t.Errorf("VPC → on-prem under flood: %v", err)
	}
	if err := l.Ping(lab.RoleOnprem, lab.VPCIP, 5); err != nil {
		t.Errorf("on-prem → VPC under flood: %v", err)
	}
	stillFlooding := gen.Running()
	pingsDone := time.Since(floodStart)

	select {
	case <-gen.Done():
	case <-time.After(floodSeconds*time.Second + 15*time.Second):
		t.Fatalf("flood generator did not stop by itself\n%s", gen.Tail(2000))
	}
	close(stopSampling)
	<-sampled
	if !stillFlooding {
		t.Errorf("the flood ended before the tunnel was UP and pinged (%v after it started): not tested under flood", pingsDone.Round(time.Millisecond))
	}

	out, _ := os.ReadFile(gen.LogPath)
	i := strings.LastIndex(string(out), "FLOOD ")
	if i < 0 {
		t.Fatalf("no statistics from the flood generator (%v):\n%s", gen.Err(), out)
	}
	var fs floodStats
	if err := json.Unmarshal([]byte(strings.TrimSpace(string(out[i+len("FLOOD "):]))), &fs); err != nil {
		t.Fatalf("flood statistics: %v: %s", err, out[i:])
	}
	if fs.PPS < floodRate/2 || fs.Sent < floodRate*floodSeconds/2 {
		t.Errorf("the generator managed only %d packets (%d/s): not a flood", fs.Sent, fs.PPS)
	}

	// Still UP and carrying traffic after the flood.
	if st := v.tunnel(t, 1); st.Status != gateway.StateUp {
		t.Errorf("after the flood: tunnel 1 is %s (%s)", st.Status, st.StatusMessage)
	}
	if err := l.Ping(lab.RoleVPC, lab.OnpremIP, 3); err != nil {
		t.Errorf("VPC → on-prem after the flood: %v", err)
	}

	hwm, err := rssOf(v.proc.PID, "VmHWM")
	if err != nil {
		t.Fatal(err)
	}
	if hwm > floodRSSMax || rssMax > floodRSSMax {
		t.Errorf("vpgw RSS peaked at %d MiB (sampled max %d MiB), want below %d MiB", hwm>>20, rssMax>>20, floodRSSMax>>20)
	}

	// What vpgw made of it: its flood warnings (with the IKE drop counters:
	// the gateway does not export ike.Counters yet) and the datapath's drop
	// counters.
	vlog, _ := os.ReadFile(v.proc.LogPath)
	var floodLines []string
	for _, line := range strings.Split(string(vlog), "\n") {
		if strings.Contains(line, "half_open=") { // the flood warnings carry the counters
			floodLines = append(floodLines, line)
		}
	}
	if !strings.Contains(string(vlog), "answering with COOKIEs") {
		t.Errorf("vpgw never demanded IKEv2 cookies during the flood")
	}
	clog, _ := os.ReadFile(ch.LogPath())
	m := v.metrics(t)
	var drops []string
	for k, n := range m {
		if strings.HasPrefix(k, "vpgw_tunnel_drops_total") && n > 0 {
			drops = append(drops, fmt.Sprintf("%s %v", k, n))
		}
	}
	t.Logf("flood: %d packets in %.1f s (%d/s), %d send errors, by kind %v", fs.Sent, fs.Seconds, fs.PPS, fs.Errors, fs.Kinds)
	t.Logf("tunnel 1 UP %v after strongSwan started (flood running for %v by then); strongSwan got a COOKIE: %v",
		timeToUp.Round(time.Millisecond), chStart.Sub(floodStart).Round(time.Millisecond), strings.Contains(string(clog), "COOKIE"))
	t.Logf("vpgw RSS: %d MiB before, sampled max %d MiB, peak (VmHWM) %d MiB", rss0>>20, rssMax>>20, hwm>>20)
	t.Logf("vpgw flood log lines:\n%s", strings.Join(floodLines, "\n"))
	if len(drops) == 0 {
		drops = []string{"none exported (ESP with unknown SPIs is counted on the endpoint, not the tunnel)"}
	}
	t.Logf("datapath drops in /metrics:\n%s", strings.Join(drops, "\n"))
}
