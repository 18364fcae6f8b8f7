package hostns

// The harness: a network namespace that stands in for an EC2 host, and a way
// to run a document's Linux script in it as the SSM agent would (written to
// a file, `bash FILE` as root, with the agent's environment variables).
//
//	h := newHost(t, hostOptions{})          // healthy host: IMDS, endpoints, agent
//	h.sh("iptables -A OUTPUT -d 169.254.169.254/32 -j DROP")
//	res := h.run(script, nil)                // res.Stdout, res.Stderr, res.Code
//	rep := h.diagnose(nil)                   // the diagnose document, parsed
//
// Everything the harness creates — the namespace (and with it its routes,
// iptables and nftables rules), /etc/netns/NAME, listeners, processes — is
// removed by t.Cleanup, whether the test passes or not. Files the script
// should see (agent log, systemd drop-ins, /etc/environment) are given in
// hostOptions.Files or h.writeFile and appear only inside the private mount
// namespace the script runs in; nothing is written to the real /etc or
// /var/log. What a script writes to them persists in the staged copy
// (h.readFile), across runs on the same host, as iptables and nftables
// rules do (h.sh runs commands in the namespace).

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/fleetdoctor/fleetdoctor/pkg/hostdiag"
)

// Defaults of a namespace host.
const (
	testInstanceID   = "i-0123456789abcdef0"
	testRegion       = "eu-west-1"
	testRole         = "fleetdoctor-ssm"
	testAgentVersion = "3.3.1142.0"
	imdsAddr         = "169.254.169.254"
	agentLogPath     = "/var/log/amazon/ssm/amazon-ssm-agent.log"
	// runTimeout bounds one script run; the diagnose script needs well
	// under a minute even when every probe times out.
	runTimeout = 90 * time.Second
)

// ssmServices are the endpoints the agent needs, in report order.
var ssmServices = []string{"ssm", "ec2messages", "ssmmessages"}

// Endpoint modes: how a namespace host answers an SSM endpoint name.
const (
	endpointOK      = "ok"      // the name resolves to a loopback listener on 443
	endpointRefused = "refused" // it resolves to a loopback address nothing listens on
	endpointTimeout = "timeout" // it resolves, and a DROP rule eats the SYN
	endpointDNS     = "dns"     // it does not resolve
)

// imdsOptions shape the IMDS test server.
type imdsOptions struct {
	// Disabled answers 403 to everything (HttpEndpoint=disabled).
	Disabled bool
	// TokensRequired answers 401 to requests without a token
	// (HttpTokens=required).
	TokensRequired bool
	// NoRole answers 404 on iam/security-credentials/ (instance profile
	// without a role, or none).
	NoRole bool
}

// hostOptions describe a namespace host. The zero value is a healthy host:
// IMDS on 169.254.169.254, the three endpoints answering, the agent
// running as root without proxy settings, an empty agent log.
type hostOptions struct {
	// NoIMDS leaves out the IMDS test server (169.254.169.254 stays on lo,
	// so probes are refused).
	NoIMDS bool
	IMDS   imdsOptions
	// Endpoints maps a service (ssm, ec2messages, ssmmessages) to an
	// endpoint mode; absent services are endpointOK.
	Endpoints map[string]string
	// AgentStopped installs the fake agent without starting it.
	AgentStopped bool
	// AgentEnv is the running agent's environment (KEY=VALUE), as
	// /proc/PID/environ shows it.
	AgentEnv []string
	// Files are files the script sees, by absolute path (see writeFile).
	// The agent log and /etc/environment are always provided (empty
	// unless given here) so the real host's never leak into a test.
	Files map[string]string
}

// nsHost is a namespace host; see newHost.
type nsHost struct {
	t    *testing.T
	name string // network namespace name
	dir  string // staging directory: bin/, files/, scripts
	opts hostOptions
	// endpointAddr maps a service to its loopback address.
	endpointAddr map[string]string
	// imdsRequests counts requests the IMDS server answered.
	imdsRequests atomic.Int64
	// runs numbers the script runs.
	runs atomic.Int64
}

// runResult is what one script run produced.
type runResult struct {
	Stdout, Stderr string
	Code           int
	Duration       time.Duration
}

// requireHostTests skips (or, under CI=true, fails) when the host tests
// cannot run here.
func requireHostTests(t *testing.T) {
	t.Helper()
	var missing []string
	if os.Geteuid() != 0 {
		missing = append(missing, "root")
	}
	for _, tool := range []string{"ip", "iptables", "nft", "curl", "unshare", "setpriv", "timeout", "bash"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if len(missing) == 0 {
		return
	}
	msg := "network-namespace host tests need " + strings.Join(missing, ", ") + " (make test-deps installs the tools)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

// requireTool is requireHostTests for one more tool.
func requireTool(t *testing.T, tool string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err == nil {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required under CI=true", tool)
	}
	t.Skipf("%s is not installed", tool)
}

// newHost creates a namespace host: a fresh network namespace with lo up
// and 169.254.169.254/32 on lo, /etc/netns/NAME/hosts mapping the endpoint
// names of testRegion to loopback addresses (resolv.conf points at a
// closed loopback port, so other names fail at once), the IMDS server and
// the endpoint listeners bound inside it, and a staged fake agent. It
// calls requireHostTests first.
func newHost(t *testing.T, opts hostOptions) *nsHost {
	t.Helper()
	requireHostTests(t)
	var rnd [4]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	h := &nsHost{t: t, name: "fdns-" + hex.EncodeToString(rnd[:]), dir: t.TempDir(), opts: opts, endpointAddr: map[string]string{}}
	if err := os.Chmod(h.dir, 0o755); err != nil { // the unprivileged probe reads nothing here, but the agent runs from bin/
		t.Fatal(err)
	}
	h.exec("ip", "netns", "add", h.name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", h.name).CombinedOutput(); err != nil {
			t.Errorf("deleting netns %s: %v: %s", h.name, err, out)
		}
	})
	h.exec("ip", "-n", h.name, "link", "set", "lo", "up")
	h.exec("ip", "-n", h.name, "addr", "add", imdsAddr+"/32", "dev", "lo")
	h.writeNetnsEtc()

	if !opts.NoIMDS {
		h.serveIMDS()
	}
	h.serveEndpoints()
	h.stageAgent()
	// The agent log and /etc/environment are always staged, so the real
	// host's never leak into a test.
	h.writeFile(agentLogPath, "")
	h.writeFile("/etc/environment", "")
	for p, c := range opts.Files {
		h.writeFile(p, c)
	}
	return h
}

// exec runs a command on the real host (ip netns ...), failing the test on
// error.
func (h *nsHost) exec(name string, args ...string) string {
	h.t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		h.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// sh runs a shell command inside the namespace (iptables, nft, ip route,
// ...) and returns its output, failing the test on error.
func (h *nsHost) sh(cmd string) string {
	h.t.Helper()
	return h.exec("ip", "netns", "exec", h.name, "sh", "-c", cmd)
}

// writeNetnsEtc writes /etc/netns/NAME/{hosts,resolv.conf}, which
// `ip netns exec` bind-mounts over /etc/hosts and /etc/resolv.conf.
func (h *nsHost) writeNetnsEtc() {
	h.t.Helper()
	etc := filepath.Join("/etc/netns", h.name)
	if err := os.MkdirAll(etc, 0o755); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { _ = os.RemoveAll(etc) })
	var hosts strings.Builder
	hosts.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost\n")
	for i, s := range ssmServices {
		addr := fmt.Sprintf("127.0.0.%d", 11+i)
		h.endpointAddr[s] = addr
		if h.opts.Endpoints[s] != endpointDNS {
			fmt.Fprintf(&hosts, "%s\t%s.%s.amazonaws.com\n", addr, s, testRegion)
		}
	}
	// Nothing listens on 127.0.0.1:53 in the namespace: lookups of names
	// not in hosts fail at once (ICMP port unreachable), never leave.
	resolv := "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n"
	for name, content := range map[string]string{"hosts": hosts.String(), "resolv.conf": resolv} {
		if err := os.WriteFile(filepath.Join(etc, name), []byte(content), 0o644); err != nil {
			h.t.Fatal(err)
		}
	}
}

// listenInNetns opens TCP listeners inside the namespace: the calling
// goroutine's thread enters the namespace, listens, and returns. The
// sockets stay in the namespace whatever thread later uses them.
func (h *nsHost) listenInNetns(addrs ...string) []net.Listener {
	h.t.Helper()
	type result struct {
		ls  []net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		var res result
		defer func() { ch <- res }()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			res.err = err
			runtime.UnlockOSThread()
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open("/run/netns/"+h.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			res.err = err
			runtime.UnlockOSThread()
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			res.err = fmt.Errorf("setns: %w", err)
			runtime.UnlockOSThread()
			return
		}
		for _, a := range addrs {
			l, err := net.Listen("tcp4", a)
			if err != nil {
				res.err = err
				break
			}
			res.ls = append(res.ls, l)
		}
		// Back to the original namespace; a thread that cannot return stays
		// locked, and the runtime ends it with this goroutine.
		if err := unix.Setns(orig, unix.CLONE_NEWNET); err == nil {
			runtime.UnlockOSThread()
		}
	}()
	res := <-ch
	for _, l := range res.ls {
		h.t.Cleanup(func() { _ = l.Close() })
	}
	if res.err != nil {
		h.t.Fatalf("listening in netns %s: %v", h.name, res.err)
	}
	return res.ls
}

// serveIMDS starts the IMDS test server on 169.254.169.254:80.
func (h *nsHost) serveIMDS() {
	h.t.Helper()
	l := h.listenInNetns(imdsAddr + ":80")[0]
	srv := &http.Server{Handler: newIMDS(h.opts.IMDS, &h.imdsRequests), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	h.t.Cleanup(func() { _ = srv.Close() })
}

// serveEndpoints accepts TCP on 443 for the endpoints in mode ok and adds
// DROP rules for those in mode timeout.
func (h *nsHost) serveEndpoints() {
	h.t.Helper()
	for _, s := range ssmServices {
		switch mode := h.opts.Endpoints[s]; mode {
		case "", endpointOK:
			l := h.listenInNetns(h.endpointAddr[s] + ":443")[0]
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					_ = c.Close()
				}
			}()
		case endpointTimeout:
			h.sh("iptables -A OUTPUT -d " + h.endpointAddr[s] + "/32 -p tcp --dport 443 -j DROP")
		case endpointRefused, endpointDNS:
		default:
			h.t.Fatalf("endpoint mode %q for %s", mode, s)
		}
	}
}

// fakeAgent is the amazon-ssm-agent the harness installs: it answers
// --version like the real one and otherwise sleeps under its own name, so
// the script finds it in /proc by argv[0].
const fakeAgent = `#!/bin/bash
if [ "${1:-}" = --version ]; then echo "SSM Agent version: ` + testAgentVersion + `"; exit 0; fi
exec -a "$0" sleep 600
`

// stageAgent writes the fake agent to DIR/bin (the script finds it on
// PATH, as it finds /usr/bin/amazon-ssm-agent on a real host).
func (h *nsHost) stageAgent() {
	h.t.Helper()
	bin := filepath.Join(h.dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "amazon-ssm-agent"), []byte(fakeAgent), 0o755); err != nil {
		h.t.Fatal(err)
	}
}

// shq quotes s for a POSIX shell.
func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// overlayDirs are the directories the harness may cover (in the script's
// private mount namespace) with a staged directory, to place files that do
// not exist on the real host. They must exist on the host: the harness
// never creates anything on the real filesystem.
var overlayDirs = []string{"/var/log", "/etc/systemd/system", "/etc/amazon", "/var/lib/amazon", "/etc/profile.d"}

// root is the staged file tree: DIR/root/<absolute path>.
func (h *nsHost) root() string { return filepath.Join(h.dir, "root") }

// writeFile stages a file the script sees at path (absolute). Staged files
// persist across runs: what a script writes to them (in place) is what the
// next run — and readFile — sees, so a test can run the repair document
// and then the diagnose document on the same host. A path must exist on
// the host (it is covered by a bind mount) or lie under one of overlayDirs
// (which the staged directory then covers as a whole, hiding the host's
// files there).
func (h *nsHost) writeFile(path, content string) {
	h.t.Helper()
	if !filepath.IsAbs(path) || filepath.Clean(path) != path {
		h.t.Fatalf("writeFile %q: want a clean absolute path", path)
	}
	if _, err := os.Stat(path); err != nil && overlayDir(path) == "" {
		h.t.Fatalf("file %s: no such file on this host, and not under a directory the harness may cover (%v)", path, overlayDirs)
	}
	if d := overlayDir(path); d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			h.t.Fatalf("file %s: %s does not exist on this host, and the harness never creates anything on the real filesystem", path, d)
		}
	}
	staged := filepath.Join(h.root(), path)
	if err := os.MkdirAll(filepath.Dir(staged), 0o755); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(staged, []byte(content), 0o644); err != nil {
		h.t.Fatal(err)
	}
}

// readFile returns the staged file at path as the last run left it ("" and
// a test error when it cannot be read). It only reports with Errorf, so
// subtests may call it on a host of their parent.
func (h *nsHost) readFile(path string) string {
	b, err := os.ReadFile(filepath.Join(h.root(), path))
	if err != nil {
		h.t.Errorf("readFile %s: %v", path, err)
	}
	return string(b)
}

// overlayDir is the overlay directory holding path, or "".
func overlayDir(path string) string {
	for _, d := range overlayDirs {
		if strings.HasPrefix(path, d+"/") {
			return d
		}
	}
	return ""
}

// wrapper builds the script that prepares the private mount and PID
// namespaces and then runs the document script as the agent would.
func (h *nsHost) wrapper(scriptPath string, env []string) string {
	h.t.Helper()
	var staged []string
	err := filepath.WalkDir(h.root(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			staged = append(staged, strings.TrimPrefix(p, h.root()))
		}
		return err
	})
	if err != nil {
		h.t.Fatal(err)
	}
	sort.Strings(staged)
	var w strings.Builder
	w.WriteString("set -e\n")
	// An overlay directory holding a file the host lacks is covered by
	// its staged copy as a whole; every other file is covered singly.
	covered := map[string]bool{}
	for _, p := range staged {
		if _, err := os.Stat(p); err != nil {
			covered[overlayDir(p)] = true
		}
	}
	for _, d := range overlayDirs {
		if covered[d] {
			fmt.Fprintf(&w, "mount --bind %s %s\n", shq(filepath.Join(h.root(), d)), shq(d))
		}
	}
	for _, p := range staged {
		if !covered[overlayDir(p)] {
			fmt.Fprintf(&w, "mount --bind %s %s\n", shq(filepath.Join(h.root(), p)), shq(p))
		}
	}
	agent := filepath.Join(h.dir, "bin", "amazon-ssm-agent")
	if !h.opts.AgentStopped {
		fmt.Fprintf(&w, "env -i %s %s &\n", joinQuoted(h.opts.AgentEnv), shq(agent))
		// Wait until the agent runs under its own name (after its exec).
		w.WriteString(`for _ in $(seq 100); do a0=$(tr '\0' '\n' < /proc/$!/cmdline | head -n1); [ "${a0##*/}" = amazon-ssm-agent ] && break; sleep 0.05; done` + "\n")
	}
	w.WriteString("set +e\ncd /\n")
	fmt.Fprintf(&w, "env -i %s bash %s\n", joinQuoted(env), shq(scriptPath))
	return w.String()
}

func joinQuoted(env []string) string {
	q := make([]string, len(env))
	for i, e := range env {
		q[i] = shq(e)
	}
	return strings.Join(q, " ")
}

// agentEnv is the environment the SSM agent gives a runShellScript step:
// its own PATH, the instance id and region, and the SSM_<Name> variables of
// ENV_VAR parameters (the caller adds those).
func (h *nsHost) agentEnv(extra []string) []string {
	env := []string{
		"PATH=" + filepath.Join(h.dir, "bin") + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"HOME=/root",
		"AWS_SSM_INSTANCE_ID=" + testInstanceID,
	}
	return append(env, extra...)
}

// run runs script as the agent runs a runShellScript step: written to a
// file, `bash FILE` as root, in the namespace, with agentEnv(env). It runs
// in private mount and PID namespaces (unshare), where the fake agent
// runs and the staged files are in place; when the script ends, both
// namespaces go, and with them the agent and the mounts.
func (h *nsHost) run(script string, env []string) runResult {
	h.t.Helper()
	res, err := h.start(script, env)()
	if err != nil {
		h.t.Fatal(err)
	}
	return res
}

// start is run in the background: it prepares the run (failing the test
// on error) and starts it; wait blocks until the script ends. wait may be
// called from any goroutine, once; it reports a script that could not be
// started or outlived runTimeout as an error, and a non-zero exit in
// runResult.Code. Tests start the scripts of many hosts at once this way,
// whatever -parallel allows.
func (h *nsHost) start(script string, env []string) (wait func() (runResult, error)) {
	h.t.Helper()
	n := h.runs.Add(1)
	scriptPath := filepath.Join(h.dir, fmt.Sprintf("_script%d.sh", n))
	if err := os.WriteFile(scriptPath, []byte(script), 0o700); err != nil {
		h.t.Fatal(err)
	}
	wrapperPath := filepath.Join(h.dir, fmt.Sprintf("wrapper%d.sh", n))
	if err := os.WriteFile(wrapperPath, []byte(h.wrapper(scriptPath, h.agentEnv(env))), 0o700); err != nil {
		h.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	cmd := exec.CommandContext(ctx, "ip", "netns", "exec", h.name,
		"unshare", "--mount", "--propagation", "private", "--pid", "--fork", "--kill-child", "--mount-proc",
		"bash", wrapperPath)
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	begin := time.Now()
	startErr := cmd.Start()
	if startErr != nil {
		cancel()
	} else {
		// A test that fails before waiting still reaps the process.
		h.t.Cleanup(func() { cancel(); _ = cmd.Wait() })
	}
	return func() (runResult, error) {
		if startErr != nil {
			return runResult{}, fmt.Errorf("starting the script in %s: %w", h.name, startErr)
		}
		defer cancel()
		err := cmd.Wait()
		res := runResult{Stdout: stdout.String(), Stderr: stderr.String(), Duration: time.Since(begin)}
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			return res, fmt.Errorf("the script in %s ran longer than %s\nstderr:\n%s", h.name, runTimeout, res.Stderr)
		case err == nil:
		case errors.As(err, &ee):
			res.Code = ee.ExitCode()
		default:
			return res, fmt.Errorf("running the script in %s: %w\nstderr:\n%s", h.name, err, res.Stderr)
		}
		return res, nil
	}
}

// linuxScript returns a document's Linux step script (its runCommand lines
// joined with "\n", as the agent writes them to _script.sh).
func linuxScript(t *testing.T, document, step string) string {
	t.Helper()
	script, err := stepScript(document, step)
	if err != nil {
		t.Fatal(err)
	}
	return script
}

// diagnoseScript is the diagnose document's Linux script.
func diagnoseScript(t *testing.T) string {
	return linuxScript(t, "FleetDoctor-DiagnoseHost", "diagnoseLinux")
}

// diagnose runs the diagnose document's Linux script with env added to
// the agent's environment (e.g. "SSM_Region=eu-west-1") and parses its
// output with hostdiag.Parse, failing the test when the run fails or the
// output is not a valid report of at most hostdiag.MaxOutput characters.
func (h *nsHost) diagnose(env []string) (hostdiag.Report, runResult) {
	h.t.Helper()
	return h.diagnoseScript(diagnoseScript(h.t), env)
}

// diagnoseScript is diagnose with the script given (e.g. with parameters
// interpolated as an older agent does).
func (h *nsHost) diagnoseScript(script string, env []string) (hostdiag.Report, runResult) {
	h.t.Helper()
	res := h.run(script, env)
	return parseRun(h.t, res), res
}

// parseRun parses a diagnose run's output with hostdiag.Parse, failing the
// test when the script failed or its output is not a valid report of at
// most hostdiag.MaxOutput characters.
func parseRun(t *testing.T, res runResult) hostdiag.Report {
	t.Helper()
	if res.Code != 0 {
		t.Fatalf("the diagnose script exited %d\nstdout:\n%s\nstderr:\n%s", res.Code, res.Stdout, res.Stderr)
	}
	if n := len([]rune(res.Stdout)); n > hostdiag.MaxOutput {
		t.Fatalf("the report is %d characters, more than %d", n, hostdiag.MaxOutput)
	}
	rep, err := hostdiag.Parse([]byte(res.Stdout))
	if err != nil {
		t.Fatalf("hostdiag.Parse: %v\nstdout:\n%s\nstderr:\n%s", err, res.Stdout, res.Stderr)
	}
	return rep
}
