package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/switchyard-go/switchyard"
)

// shutdownGrace bounds how long serve waits for requests in flight when
// it is told to stop.
const shutdownGrace = 10 * time.Second

func newServe() *cobra.Command {
	var (
		files     []string
		adminAddr string
		proxyAddr string
		debounce  time.Duration
	)
	cmd := &cobra.Command{
		Use:   "serve -f FILES [--admin 127.0.0.1:15000] [--proxy 127.0.0.1:15001]",
		Short: "Serve a configuration: the admin page and a forward proxy that routes through the mesh",
		Long: `serve builds a mesh from the manifests and serves, until interrupted:

  - the mesh's admin page (routes, clusters, endpoints and their health,
    recent updates and ejections; JSON at state, config, clusters, updates,
    ejections) at --admin;
  - a forward proxy at --proxy that sends each request through the mesh, so
    that any HTTP client (curl, a browser, a program in another language)
    can try the configuration by hand: set HTTP_PROXY=http://<proxy address>
    or use curl -x. Requests in absolute form (GET http://reviews:9080/...)
    are routed as a Go program's http.Client would route them with
    Mesh.Transport(nil), to the endpoints the ServiceEntries list; hosts the
    configuration does not know pass through to the address they name.
    CONNECT (what HTTPS_PROXY and https:// URLs use) is refused with 405:
    a tunnel carries encrypted bytes the mesh cannot route.

It reloads the files when they change (switchyard.WatchFiles): a change
that does not parse or validate is logged and shown on the admin page, and
the running configuration keeps serving. Both addresses default to
loopback: the admin page shows the configuration and the proxy reaches
whatever the endpoints are; do not expose them.

SIGINT or SIGTERM stops it gracefully: the listeners close, requests in
flight get up to 10 s to finish.

Exit status: 0 stopped by a signal, 1 the manifests are invalid, 2 trouble
(an address in use, unreadable files).`,
		Example: `  switchyard serve -f bookinfo/
  HTTP_PROXY=http://127.0.0.1:15001 curl -H 'end-user: jason' http://reviews:9080/reviews/1`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(files) == 0 {
				return trouble("give the manifests with -f FILES")
			}
			for _, f := range files {
				if f == "-" {
					return trouble("serve watches files; it cannot read standard input")
				}
			}
			return serve(cmd.Context(), files, adminAddr, proxyAddr, debounce, cmd.ErrOrStderr())
		},
	}
	fileFlag(cmd, &files, "manifest files or directories to serve and watch (repeatable)")
	cmd.Flags().StringVar(&adminAddr, "admin", "127.0.0.1:15000", "address of the admin page")
	cmd.Flags().StringVar(&proxyAddr, "proxy", "127.0.0.1:15001", "address of the forward proxy")
	cmd.Flags().DurationVar(&debounce, "debounce", 100*time.Millisecond, "how long files must stay unchanged before they are reloaded")
	_ = cmd.RegisterFlagCompletionFunc("admin", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("proxy", cobra.NoFileCompletions)
	_ = cmd.RegisterFlagCompletionFunc("debounce", cobra.NoFileCompletions)
	return cmd
}

// lockedWriter serialises the log lines of serve's goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func serve(ctx context.Context, files []string, adminAddr, proxyAddr string, debounce time.Duration, stderr io.Writer) error {
	logger := log.New(&lockedWriter{w: stderr}, "switchyard serve: ", 0)
	l, errs, err := load(files, nil)
	if err != nil {
		return err
	}
	if len(errs) > 0 {
		return invalid(stderr, errs)
	}
	mesh, err := switchyard.New(l.cfg)
	if err != nil {
		return &exitError{code: exitNo, err: err}
	}
	defer mesh.Close()

	stopWatch, err := switchyard.WatchFiles(ctx, mesh, files, switchyard.WatchOptions{
		Debounce: debounce,
		OnReload: func(err error) {
			if err != nil {
				logger.Printf("reload rejected; the running configuration stays:\n%v", err)
				return
			}
			cfg := mesh.Config()
			logger.Printf("reloaded: %s, %s, %s", plural(len(cfg.ServiceEntries), "ServiceEntry"),
				plural(len(cfg.DestinationRules), "DestinationRule"), plural(len(cfg.VirtualServices), "VirtualService"))
		},
	})
	if err != nil {
		return trouble("%v", err)
	}
	defer stopWatch()

	adminLn, err := listen(adminAddr, "--admin")
	if err != nil {
		return err
	}
	proxyLn, err := listen(proxyAddr, "--proxy")
	if err != nil {
		adminLn.Close()
		return err
	}
	errLog := log.New(logger.Writer(), "switchyard serve: ", 0)
	servers := []*http.Server{
		{Handler: mesh.AdminHandler(), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog},
		{Handler: newForwardProxy(mesh, errLog), ReadHeaderTimeout: 10 * time.Second, ErrorLog: errLog},
	}
	logger.Printf("admin page at http://%s/", adminLn.Addr())
	logger.Printf("forward proxy at %s: HTTP_PROXY=http://%s", proxyLn.Addr(), proxyLn.Addr())
	for _, a := range []net.Addr{adminLn.Addr(), proxyLn.Addr()} {
		if tcp, ok := a.(*net.TCPAddr); ok && !tcp.IP.IsLoopback() {
			logger.Printf("warning: %s is reachable from other machines; the admin page shows the configuration and the proxy reaches its endpoints", a)
		}
	}

	served := make(chan error, len(servers))
	for i, ln := range []net.Listener{adminLn, proxyLn} {
		go func() { served <- servers[i].Serve(ln) }()
	}
	var failed error
	select {
	case <-ctx.Done():
		logger.Printf("stopping")
	case failed = <-served:
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(sctx); err != nil {
			s.Close() // requests past the grace period are cut
		}
	}
	for range len(servers) - btoi(failed != nil) {
		<-served
	}
	if failed != nil && !errors.Is(failed, http.ErrServerClosed) {
		return trouble("%v", failed)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func listen(addr, flag string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, trouble("%s %s: %v", flag, addr, err)
	}
	return ln, nil
}

// via marks requests the proxy forwards, to catch a loop back into it
// (HTTP_PROXY set for serve itself, and a host the mesh passes through).
const via = "1.1 switchyard"

// newForwardProxy returns an HTTP forward proxy that sends requests
// through the mesh.
func newForwardProxy(mesh *switchyard.Mesh, errLog *log.Logger) http.Handler {
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL = pr.In.URL // absolute: the mesh routes by its host
			pr.Out.Host = pr.In.Host
			pr.Out.Header.Add("Via", via)
		},
		Transport: mesh.Transport(nil),
		ErrorLog:  errLog,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, fmt.Sprintf("switchyard serve: %s %s: %v", r.Method, r.URL, err), http.StatusBadGateway)
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodConnect:
			http.Error(w, "switchyard serve: CONNECT is not supported: a tunnel carries encrypted bytes the mesh cannot route. "+
				"Send http:// URLs through HTTP_PROXY, and leave HTTPS_PROXY unset (or list the host in NO_PROXY).", http.StatusMethodNotAllowed)
		case !r.URL.IsAbs() || r.URL.Host == "":
			http.Error(w, "switchyard serve: this is a forward proxy: send requests in absolute form (GET http://reviews:9080/...), "+
				"as clients do with HTTP_PROXY set to this address or curl -x.", http.StatusBadRequest)
		case r.URL.Scheme != "http":
			http.Error(w, fmt.Sprintf("switchyard serve: scheme %q is not supported; use http:// URLs", r.URL.Scheme), http.StatusBadRequest)
		case slicesContain(r.Header.Values("Via"), via):
			http.Error(w, "switchyard serve: the request came back to this proxy (is HTTP_PROXY set for switchyard serve itself?)", http.StatusLoopDetected)
		default:
			rp.ServeHTTP(w, r)
		}
	})
}

func slicesContain(values []string, v string) bool {
	for _, s := range values {
		for part := range strings.SplitSeq(s, ",") {
			if strings.TrimSpace(part) == v {
				return true
			}
		}
	}
	return false
}
