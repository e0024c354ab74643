package store

import (
	"bufio"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Child processes: the test binary re-executed with STORE_TEST_CHILD set.
const (
	envChild = "STORE_TEST_CHILD"
	envDir   = "STORE_TEST_DIR"
)

func TestMain(m *testing.M) {
	switch os.Getenv(envChild) {
	case "":
		os.Exit(m.Run())
	case "writer":
		os.Exit(childWriter(os.Getenv(envDir)))
	case "opener":
		os.Exit(childOpener(os.Getenv(envDir)))
	default:
		fmt.Fprintln(os.Stderr, "unknown child", os.Getenv(envChild))
		os.Exit(2)
	}
}

// childWriter makes acknowledged changes until it is killed: each Update
// creates a customer gateway and a VPN connection (with generated inside
// CIDRs and PSKs) or deletes an earlier pair; after Update returns it
// writes "ack create <vpn-id> <cgw-id>" or "ack delete <vpn-id> <cgw-id>".
func childWriter(dir string) int {
	s, err := Open(dir)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	s.SetLimit(LimitCustomerGateways, 1<<20)
	s.SetLimit(LimitVPNConnectionsPerGateway, 1<<20)
	err = s.Update(func(tx *Tx) error {
		if _, err := tx.GetVPNGateway("vgw-crash"); err == nil {
			return nil
		}
		_, err := tx.CreateVPNGateway(VPNGateway{Name: "vgw-crash"})
		return err
	})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	fmt.Println("ready")
	var live [][2]string
	for i := 0; ; i++ {
		if len(live) > 0 && i%4 == 3 {
			pair := live[0]
			// Announced first: a kill between the commit and the ack
			// leaves the parent unsure, and it must accept either outcome.
			fmt.Printf("try delete %s %s\n", pair[0], pair[1])
			err := s.Update(func(tx *Tx) error {
				if err := tx.DeleteVPNConnection(pair[0]); err != nil {
					return err
				}
				return tx.DeleteCustomerGateway(pair[1])
			})
			if err != nil {
				fmt.Println("error", err)
				return 1
			}
			live = live[1:]
			fmt.Printf("ack delete %s %s\n", pair[0], pair[1])
			continue
		}
		var c VPNConnection
		err := s.Update(func(tx *Tx) error {
			for {
				// A fresh IP per pair (the previous run's are in the store).
				ip := netip.AddrFrom4([4]byte{10, byte(rand.IntN(256)), byte(rand.IntN(256)), byte(rand.IntN(256))})
				cg, err := tx.CreateCustomerGateway(CustomerGateway{IP: ip})
				if err != nil {
					return err
				}
				c, err = tx.CreateVPNConnection(VPNConnection{CustomerGatewayID: cg.ID, VPNGatewayID: "vgw-crash"})
				if errors.Is(err, ErrConflict) {
					// Same random IP as a live pair: roll this one back.
					if err := tx.DeleteCustomerGateway(cg.ID); err != nil {
						return err
					}
					continue
				}
				return err
			}
		})
		if err != nil {
			fmt.Println("error", err)
			return 1
		}
		live = append(live, [2]string{c.ID, c.CustomerGatewayID})
		fmt.Printf("ack create %s %s\n", c.ID, c.CustomerGatewayID)
	}
}

// childOpener tries to open the store and reports how it went.
func childOpener(dir string) int {
	start := time.Now()
	s, err := Open(dir)
	d := time.Since(start)
	if err != nil {
		fmt.Printf("locked=%v elapsed=%s error=%s\n", errors.Is(err, ErrLocked), d, err)
		return 3
	}
	s.Close()
	fmt.Printf("opened elapsed=%s\n", d)
	return 0
}

func child(t *testing.T, kind, dir string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+kind, envDir+"="+dir)
	cmd.Stderr = os.Stderr
	return cmd
}

// TestCrashDurability kills a writing process with SIGKILL at a random
// moment, several times over the same store: every change it had
// acknowledged is there after reopening, the file opens cleanly, bbolt's
// own page check passes and the indexes match the objects.
func TestCrashDurability(t *testing.T) {
	dir := t.TempDir()
	created := map[string]string{} // acknowledged live connection -> its customer gateway
	deleted := map[string]bool{}
	totalAcks := 0
	for round := range 4 {
		cmd := child(t, "writer", dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(out)
		if !sc.Scan() || sc.Text() != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child did not start: %q", round, sc.Text())
		}
		killAfter := 5 + rand.IntN(60)
		lines := make(chan string)
		go func() {
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		acks := 0
		killed := false
		deadline := time.After(time.Minute)
		for !killed {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("round %d: child exited before it was killed", round)
				}
				acks += record(t, line, created, deleted)
				if acks == killAfter {
					// Kill at a random moment inside the next writes.
					time.Sleep(time.Duration(rand.IntN(3000)) * time.Microsecond)
					cmd.Process.Signal(syscall.SIGKILL)
					killed = true
				}
			case <-deadline:
				cmd.Process.Kill()
				t.Fatalf("round %d: only %d acknowledgements in a minute", round, acks)
			}
		}
		// Lines the child wrote before it died were acknowledged too.
		for line := range lines {
			acks += record(t, line, created, deleted)
		}
		err = cmd.Wait()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("round %d: child ended with %v, want SIGKILL", round, err)
		}
		totalAcks += acks

		start := time.Now()
		s, err := Open(dir)
		if err != nil {
			t.Fatalf("round %d: reopen after SIGKILL: %v", round, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("round %d: reopen took %v (the dead process's lock should be gone)", round, d)
		}
		err = s.db.View(func(tx *bolt.Tx) error {
			for err := range tx.Check() {
				return fmt.Errorf("bbolt check: %w", err)
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := s.Check(); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		err = s.View(func(tx *Tx) error {
			for vpn, cgw := range created {
				c, err := tx.GetVPNConnection(vpn)
				if err != nil {
					return fmt.Errorf("acknowledged connection lost: %w", err)
				}
				if c.CustomerGatewayID != cgw || c.Tunnels[0].PSK == "" {
					return fmt.Errorf("connection %s: %+v", vpn, c)
				}
			}
			for id := range deleted {
				if _, err := tx.GetVPNConnection(id); !errors.Is(err, ErrNotFound) {
					return fmt.Errorf("acknowledged deletion of %s lost (%v)", id, err)
				}
			}
			return nil
		})
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if s.Revision() < uint64(totalAcks) {
			t.Errorf("round %d: revision %d < %d acknowledged updates", round, s.Revision(), totalAcks)
		}
		s.Close()
		t.Logf("round %d: killed after %d acknowledged updates (%d live connections, %d deleted)", round, acks, len(created), len(deleted))
	}
}

func record(t *testing.T, line string, created map[string]string, deleted map[string]bool) int {
	t.Helper()
	f := strings.Fields(line)
	if len(f) == 4 && f[0] == "try" {
		// A delete in flight: not acknowledged, so the connection may or may
		// not survive the kill; stop requiring it.
		delete(created, f[2])
		return 0
	}
	if len(f) != 4 || f[0] != "ack" {
		t.Fatalf("child: %s", line)
	}
	switch f[1] {
	case "create":
		created[f[2]] = f[3]
	case "delete":
		delete(created, f[2])
		deleted[f[2]] = true
	}
	return 1
}

// TestLockOtherProcess: while this process has the store open, another
// vpgw's Open fails within about a second with the clear error; once it
// is closed, the other process opens it.
func TestLockOtherProcess(t *testing.T) {
	s, dir := openTemp(t)
	start := time.Now()
	out, err := child(t, "opener", dir).Output()
	elapsed := time.Since(start)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("second process: %v: %s", err, out)
	}
	if !strings.Contains(string(out), "locked=true") || !strings.Contains(string(out), "error=state store locked by another vpgw: "+dir) {
		t.Errorf("second process said %q", out)
	}
	if elapsed > 5*time.Second { // 1 s lock wait plus process start
		t.Errorf("second process took %v", elapsed)
	}
	t.Logf("second process: %s", strings.TrimSpace(string(out)))
	s.Close()
	out, err = child(t, "opener", dir).Output()
	if err != nil || !strings.HasPrefix(string(out), "opened") {
		t.Fatalf("after Close: %v: %s", err, out)
	}
}
