package lab

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"time"
)

// stopGrace is how long a process gets between SIGTERM and SIGKILL.
const stopGrace = 5 * time.Second

// Proc is a background process started by the lab inside a namespace.
type Proc struct {
	Name    string
	NS      string
	PID     int
	LogPath string // combined stdout and stderr

	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

var procNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// Start runs args in the namespace (role or name) in the background, with env
// added to the current environment and output appended to Dir()/name.log. The
// process is tracked by PID and stopped by Down. `ip netns exec` execs its
// command, so PID is that of args[0] (or of what it execs in turn).
func (l *Lab) Start(ns, name string, env []string, args ...string) (*Proc, error) {
	if len(args) == 0 {
		return nil, errors.New("lab: Start: no command")
	}
	if !procNameRE.MatchString(name) {
		return nil, fmt.Errorf("lab: Start: bad process name %q", name)
	}
	l.mu.Lock()
	if l.down {
		l.mu.Unlock()
		return nil, errors.New("lab: Start after Down")
	}
	l.mu.Unlock()

	logPath := filepath.Join(l.dir, name+".log")
	f, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer f.Close() // the child has its own copy

	full := append([]string{"netns", "exec", l.NS(ns)}, args...)
	cmd := exec.Command("ip", full...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	// Own process group: a Ctrl-C meant for the test binary or CLI must not
	// reach charon before Down has a chance to stop it in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	l.logf("start %s: ip %v", name, full)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("lab: start %s: %w", name, err)
	}
	p := &Proc{Name: name, NS: l.NS(ns), PID: cmd.Process.Pid, LogPath: logPath, cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	l.mu.Lock()
	l.procs = append(l.procs, p)
	l.mu.Unlock()
	return p, nil
}

// Done is closed when the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the exit status; valid after Done is closed.
func (p *Proc) Err() error {
	select {
	case <-p.done:
		return p.err
	default:
		return nil
	}
}

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM, then SIGKILL after 5 s, and waits for the exit.
func (p *Proc) Stop() error {
	stopAll([]*Proc{p})
	if p.Running() {
		return fmt.Errorf("lab: %s (pid %d) survived SIGKILL", p.Name, p.PID)
	}
	return nil
}

// Tail returns up to n bytes from the end of the process's log.
func (p *Proc) Tail(n int64) string { return tailFile(p.LogPath, n) }

func tailFile(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// stopAll terminates the processes together so shutdown takes one grace
// period, not one per process.
func stopAll(procs []*Proc) {
	for _, p := range procs {
		if p.Running() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.After(stopGrace)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
		}
	}
	for _, p := range procs {
		if p.Running() {
			_ = p.cmd.Process.Kill()
		}
	}
	for _, p := range procs {
		select {
		case <-p.done:
		case <-time.After(2 * time.Second):
		}
	}
}

// killPIDs stops untracked processes (found in a namespace) by PID: SIGTERM,
// then SIGKILL after the grace period.
func killPIDs(log io.Writer, pids []int) {
	if len(pids) == 0 {
		return
	}
	for _, pid := range pids {
		fmt.Fprintf(log, "lab: SIGTERM pid %d\n", pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	deadline := time.Now().Add(stopGrace)
	for time.Now().Before(deadline) && anyAlive(pids) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, pid := range pids {
		if alive(pid) {
			fmt.Fprintf(log, "lab: SIGKILL pid %d\n", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	deadline = time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && anyAlive(pids) {
		time.Sleep(50 * time.Millisecond)
	}
}

func anyAlive(pids []int) bool {
	for _, pid := range pids {
		if alive(pid) {
			return true
		}
	}
	return false
}

// alive reports whether pid exists and is not a zombie (a zombie of someone
// else's child no longer holds the namespace).
func alive(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// state follows "pid (comm) "; comm may hold spaces, so find the last ')'.
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == ')' {
			return i+2 < len(b) && b[i+2] != 'Z'
		}
	}
	return true
}

// Alive reports whether a process with this PID still exists (not a zombie).
func Alive(pid int) bool { return alive(pid) }
