package router

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp/syntax"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/switchyard-go/switchyard/fault"
	"github.com/switchyard-go/switchyard/internal/cluster"
	"github.com/switchyard-go/switchyard/internal/engine"
	"github.com/switchyard-go/switchyard/internal/fielderr"
	"github.com/switchyard-go/switchyard/internal/hostname"
	"github.com/switchyard-go/switchyard/internal/retrypolicy"
	"github.com/switchyard-go/switchyard/internal/visibility"
	"github.com/switchyard-go/switchyard/match"
	"github.com/switchyard-go/switchyard/route"
)

// Compile validates VirtualServices against the registry (nil: one with
// no service) and builds a Table. src describes the calling workload for
// sourceLabels and sourceNamespace selectors; env, which may be nil, gives
// the retry and fault policies their clock and randomness. Every problem is
// reported, each naming its resource and field.
func Compile(services []route.VirtualService, reg *cluster.Registry, src match.Source, env *Env) (*Table, error) {
	return CompileFrom(services, reg, src, env, Binding{}, nil)
}

// CompileFrom is Compile for the VirtualServices bound to b.Gateway,
// incremental over prev (nil: none), the table compiled with the same src,
// env and binding from the previous configuration: a VirtualService
// unchanged (deep-equal) whose destinations resolve to the same services of
// reg keeps its compiled virtual host, and so does the default route of a
// service reg took unchanged. Every VirtualService is validated, bound or
// not, so that each table reports the same problems.
func CompileFrom(services []route.VirtualService, reg *cluster.Registry, src match.Source, env *Env, b Binding, prev *Table) (*Table, error) {
	src.Gateway = b.name()
	if env == nil {
		env = &Env{} // the policies then take the real clock and math/rand/v2
	}
	if reg == nil {
		empty, err := cluster.Compile(nil, nil, cluster.Options{})
		if err != nil {
			return nil, err
		}
		reg = empty
	}
	t := &Table{hosts: make(map[string]*hostEntry, len(services)), defaults: make(map[*cluster.Service]*VirtualHost, len(services)), registry: reg,
		vhs: make([]*VirtualHost, len(services)+1), vsWarns: map[int][]*fielderr.Error{}}
	var errs fielderr.List
	wildOwner := map[hostKey]*route.VirtualService{}
	for i := range services {
		vs := &services[i]
		var e fielderr.List
		vh := prev.reusable(vs, reg)
		if vh == nil {
			vh = compileVirtualService(vs, reg, src, env, &e)
			vh.spec, vh.deps, vh.warns = specOf(vs), depsOf(vs, reg), e.Warnings()
		} else {
			e.AddWarnings(vh.warns)
		}
		slot := slot(i + 1)
		t.vhs[slot] = vh
		if src.Namespace != "" && !visibility.Visible(vs.Namespace, vs.ExportTo, src.Namespace) {
			e.Warn("spec.exportTo", "not exported to this process's namespace %s, so it does not apply here", fielderr.Quote(src.Namespace))
			e.Locate(fielderr.Resource("VirtualService", vs.Namespace, vs.Name))
			errs.AddList(&e)
			t.vsWarns[i] = e.Warnings()
			continue
		}
		bound := b.binds(vs)
		valid := true
		onMesh := len(vs.Gateways) == 0 || slices.Contains(vs.Gateways, "mesh")
		for j, h := range vs.Hosts {
			key, err := parseHost(h, onMesh)
			if err != nil {
				e.Add(fielderr.Index("spec.hosts", j), "%v", err)
				valid = false
				continue
			}
			// A Sidecar's egress hosts name full names; Istio resolves a
			// short host in the VirtualService's namespace first.
			admitted := key.host
			if fq, short := reg.FullName(key.host, vs.Namespace); short {
				admitted = fq
			}
			if !bound || (b.Admit != nil && !b.Admit(vs, admitted)) {
				continue
			}
			if len(vs.HTTP) == 0 {
				continue // TCP and TLS routes only: CompileTCP routes them
			}
			if prev := t.routedBy(key, wildOwner); prev != nil {
				e.Warn(fielderr.Index("spec.hosts", j), "host %s is already routed by %s, and Istio gives a host to its first VirtualService only: these routes do not apply to it", fielderr.Quote(h), fielderr.Resource("VirtualService", prev.Namespace, prev.Name))
				continue
			}
			if strings.HasPrefix(key.host, "*") {
				wildOwner[key] = vs
				t.wildcard = append(t.wildcard, wildcardHost{suffix: key.host[1:], vh: slot})
			} else {
				t.entry(key.host).any = slot
			}
			// A short host is also the service of its full name, when
			// there is one: callers may use either.
			if full := reg.Resolve(key.host, vs.Namespace); full != key.host {
				if fe := t.entry(full); fe.any == 0 {
					fe.any = slot
				}
			}
		}
		if len(vs.Hosts) == 0 {
			e.Add("spec.hosts", "not supported: a VirtualService without hosts is a delegate, and delegate VirtualServices are not supported; give it hosts")
		}
		if valid {
			for x := 0; x < len(vs.Hosts); x++ {
				for y := x + 1; y < len(vs.Hosts); y++ {
					if hostname.Matches(strings.ToLower(vs.Hosts[x]), strings.ToLower(vs.Hosts[y])) {
						e.Add(fielderr.Index("spec.hosts", y), "host %s overlaps host %s", fielderr.Quote(vs.Hosts[y]), fielderr.Quote(vs.Hosts[x]))
					}
				}
			}
		}
		if e.Len() > 0 || len(e.Warnings()) > 0 {
			e.Locate(fielderr.Resource("VirtualService", vs.Namespace, vs.Name))
			errs.AddList(&e)
			t.vsWarns[i] = e.Warnings()
		}
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	t.warnings = errs.Warnings()
	sort.SliceStable(t.wildcard, func(i, j int) bool { return len(t.wildcard[i].suffix) > len(t.wildcard[j].suffix) })
	var defErr error
	reg.Each(func(svc *cluster.Service) {
		if defErr != nil || b.Gateway != "" {
			return // a gateway routes only the hosts its VirtualServices name
		}
		if b.AdmitService != nil && !b.AdmitService(svc) {
			return
		}
		if e := t.hosts[svc.Host]; e != nil && e.any != 0 {
			return // a VirtualService routes the host at every port: Lookup would never take its default route
		}
		vh := prev.defaultOf(svc)
		if vh == nil {
			if vh, defErr = defaultHost(svc, reg, src, env); defErr != nil || vh == nil {
				return
			}
		}
		t.defaults[svc] = vh
		if !strings.HasPrefix(svc.Host, "*") {
			t.entry(svc.Host).def = vh
		}
	})
	if defErr != nil {
		return nil, defErr
	}
	t.addDomains(src.Namespace, reg.Domain())
	return t, nil
}

// addDomains gives each host <name>.<ns>.svc.<domain> the other names a
// sidecar's virtual host answers to: <name>.<ns> and <name>.<ns>.svc, and
// <name> alone for a caller in namespace ns (the caller's namespace,
// "default" when unset). A name the configuration routes itself keeps its
// own routes.
func (t *Table) addDomains(callerNS, domain string) {
	if callerNS == "" {
		callerNS = "default"
	}
	suffix := ".svc." + domain
	var fqdns []string
	for h := range t.hosts {
		if strings.HasSuffix(h, suffix) {
			fqdns = append(fqdns, h)
		}
	}
	for _, h := range fqdns {
		rest := strings.TrimSuffix(h, suffix)
		name, ns, ok := strings.Cut(rest, ".")
		if !ok || name == "" || ns == "" || strings.Contains(ns, ".") {
			continue
		}
		aliases := []string{rest, rest + ".svc"}
		if ns == callerNS {
			aliases = append(aliases, name)
		}
		for _, a := range aliases {
			if _, taken := t.hosts[a]; !taken {
				t.hosts[a] = t.hosts[h]
			}
		}
	}
}

// defaultHost returns the virtual host of svc without a VirtualService:
// balanced over all its endpoints at the port the request was sent to; nil
// when svc has no cluster (a ServiceEntry without ports), for which Istio
// builds no route, so requests pass through.
func defaultHost(svc *cluster.Service, reg *cluster.Registry, src match.Source, env *Env) (*VirtualHost, error) {
	tg := reg.Target(svc.Host, "", 0)
	if tg.Missing() != "" {
		return nil, nil
	}
	m, _ := match.Compile(nil, src)
	p, _ := retrypolicy.New(nil, env.retryOptions()...)
	r := &Route{
		Name: svc.Host + ".default", matcher: m, kind: actionForward, total: 1,
		dests: []destination{{host: svc.Host, target: tg, upTo: 1}}, retry: p, rules: rulesOf(p),
	}
	return &VirtualHost{Name: "default route of " + svc.Host, routes: []*Route{r}}, nil
}

// destinationHost checks a destination's host as Istio does: a DNS name,
// a wildcard only as its first label, never "*" alone.
func destinationHost(h string) error {
	if h == "*" {
		return fmt.Errorf(`"*" is not a destination`)
	}
	return hostname.Wildcard(h)
}

// parseHost checks a VirtualService host as Istio does — a DNS name with
// a wildcard only in its first label, or an IP address — and returns its
// key. "*" is for gateways: on the mesh it would capture every host.
func parseHost(h string, mesh bool) (hostKey, error) {
	if !mesh && strings.HasPrefix(h, "outbound_.") {
		// A gateway routing Istio's own SNI names
		// (outbound_.<port>_.<subset>_.<host>), as Istio allows.
		if err := hostname.FQDN(strings.ReplaceAll(h, "_", "x")); err != nil {
			return hostKey{}, err
		}
		return hostKey{host: strings.ToLower(h)}, nil
	}
	if _, err := netip.ParseAddr(h); err == nil {
		return hostKey{host: strings.ToLower(h)}, nil
	}
	if err := hostname.Wildcard(h); err != nil {
		return hostKey{}, err
	}
	if h == "*" && mesh {
		return hostKey{}, fmt.Errorf(`"*" would route every host the process calls; it is allowed only on gateways`)
	}
	return hostKey{host: strings.ToLower(h)}, nil
}

func compileVirtualService(vs *route.VirtualService, reg *cluster.Registry, src match.Source, env *Env, errs *fielderr.List) *VirtualHost {
	vh := &VirtualHost{Name: fielderr.Resource("VirtualService", vs.Namespace, vs.Name)}
	visibility.Validate(vs.Namespace, vs.ExportTo, false, "spec.exportTo", errs)
	for i, g := range vs.Gateways {
		if err := checkGatewayName(g); err != "" {
			errs.Add(fielderr.Index("spec.gateways", i), "gateway %s: %s", fielderr.Quote(g), err)
		}
	}
	if len(vs.HTTP) == 0 && len(vs.TCP) == 0 && len(vs.TLS) == 0 {
		errs.Add("spec.http", "http, tcp or tls must be provided in a VirtualService")
	}
	for i := range vs.HTTP {
		path := fielderr.Index("spec.http", i)
		r := compileRoute(resolveMatchGateways(&vs.HTTP[i], vs.Namespace, path, errs), vs.Namespace, reg, src, env, path, errs)
		if r.Name == "" {
			r.Name = vs.Name + "." + strconv.Itoa(i)
		}
		if r.matcher != nil && !r.matcher.Never() {
			vh.routes = append(vh.routes, r)
		}
	}
	vh.index = buildIndex(vh.routes)
	return vh
}

func compileRoute(hr *route.HTTPRoute, ns string, reg *cluster.Registry, src match.Source, env *Env, path string, errs *fielderr.List) *Route {
	r := &Route{Name: hr.Name, Timeout: hr.Timeout}
	m, err := match.Compile(hr.Match, src)
	errs.Merge(fielderr.Join(path, "match"), err)
	r.matcher = m

	actions := 0
	for _, set := range []bool{len(hr.Route) > 0, hr.Redirect != nil, hr.DirectResponse != nil} {
		if set {
			actions++
		}
	}
	switch {
	case actions == 0:
		errs.Add(path, "a route needs one of route, redirect or directResponse")
	case actions > 1:
		errs.Add(path, "route, redirect and directResponse are mutually exclusive")
	}
	if (hr.Redirect != nil || hr.DirectResponse != nil) && (hr.Rewrite != nil || hr.Fault != nil) {
		errs.Add(path, "redirect and directResponse cannot be combined with rewrite or fault")
	}
	switch {
	case hr.Timeout < 0:
		errs.Add(fielderr.Join(path, "timeout"), "must not be negative")
	default:
		errs.Millis(fielderr.Join(path, "timeout"), hr.Timeout)
	}
	if hr.Retries != nil {
		errs.Millis(fielderr.Join(path, "retries.perTryTimeout"), hr.Retries.PerTryTimeout)
	}
	p, err := retrypolicy.New((*retrypolicy.Config)(hr.Retries), env.retryOptions()...)
	errs.Merge(fielderr.Join(path, "retries"), err)
	if p != nil {
		r.retry = p.WithPerTryTimeoutCap(hr.Timeout)
		r.rules = rulesOf(p)
	}
	if hr.Fault != nil {
		inj, err := fault.New(hr.Fault, env.faultOptions()...)
		errs.Merge(fielderr.Join(path, "fault"), err)
		r.fault = inj
		if a := hr.Fault.Abort; a != nil && a.HTTPStatus == 600 {
			errs.Warn(fielderr.Join(path, "fault.abort.httpStatus"), "600: Istio accepts it but Envoy takes 200-599 and refuses the route; switchyard answers 600 as configured")
		}
	}
	r.mirrors = compileMirrors(hr, ns, reg, path, errs)

	var reqLevel, respLevel level
	if hr.Headers != nil {
		reqLevel = compileLevel(hr.Headers.Request, fielderr.Join(path, "headers.request"), true, errs)
		respLevel = compileLevel(hr.Headers.Response, fielderr.Join(path, "headers.response"), false, errs)
		for _, rd := range hr.Route {
			if grpcOnly(reg.Lookup(strings.ToLower(rd.Destination.Host))) {
				checkGRPC(hr.Headers.Request, fielderr.Join(path, "headers.request"), errs)
				break
			}
		}
	}
	if hr.Rewrite != nil {
		r.rewrite = compileRewrite(hr.Rewrite, fielderr.Join(path, "rewrite"), errs)
		if hr.Rewrite.Authority != "" && reqLevel.authority != "" {
			errs.Add(fielderr.Join(path, "rewrite.authority"), "the authority is also set in headers.request; set it in one place")
		}
	}
	switch {
	case hr.Redirect != nil:
		r.kind = actionRedirect
		r.redirect = compileRedirect(hr.Redirect, hr.Match, fielderr.Join(path, "redirect"), errs)
		r.respOps = ordered(respLevel)
	case hr.DirectResponse != nil:
		r.kind = actionDirect
		r.direct = compileDirect(hr.DirectResponse, fielderr.Join(path, "directResponse"), errs)
		r.respOps = ordered(respLevel)
	default:
		r.kind = actionForward
		compileDestinations(r, hr, ns, reg, reqLevel, respLevel, path, errs)
	}
	return r
}

func compileDestinations(r *Route, hr *route.HTTPRoute, ns string, reg *cluster.Registry, reqLevel, respLevel level, path string, errs *fielderr.List) {
	single := len(hr.Route) == 1
	var total uint64
	for i, rd := range hr.Route {
		dp := fielderr.Index(fielderr.Join(path, "route"), i)
		if rd.Weight < 0 {
			errs.Add(fielderr.Join(dp, "weight"), "must not be negative")
		}
		d := destination{host: rd.Destination.Host, subset: rd.Destination.Subset}
		var port uint32
		if rd.Destination.Port != nil {
			port = rd.Destination.Port.Number
		}
		if rd.Destination.Port != nil && (port == 0 || port > 65535) {
			errs.Add(fielderr.Join(dp, "destination.port.number"), "%d is out of range 1-65535", port)
		}
		if rd.Destination.Host == "" {
			errs.Add(fielderr.Join(dp, "destination.host"), "required")
		} else if err := destinationHost(rd.Destination.Host); err != nil {
			errs.Add(fielderr.Join(dp, "destination.host"), "%v", err)
		} else {
			d.target = reg.Target(reg.Resolve(rd.Destination.Host, ns), rd.Destination.Subset, port)
			if why := d.target.Missing(); why != "" {
				errs.Warn(fielderr.Join(dp, "destination"), "%s: requests routed here get 503 (Envoy's cluster_not_found)", why)
			}
		}
		var dReq, dResp level
		if rd.Headers != nil {
			dReq = compileLevel(rd.Headers.Request, fielderr.Join(dp, "headers.request"), true, errs)
			dResp = compileLevel(rd.Headers.Response, fielderr.Join(dp, "headers.response"), false, errs)
			if grpcOnly(reg.Lookup(strings.ToLower(rd.Destination.Host))) {
				checkGRPC(rd.Headers.Request, fielderr.Join(dp, "headers.request"), errs)
			}
		}
		if single {
			// One destination: its operations are appended to the route
			// level, so they come after (and win over) the route's own.
			d.reqOps = ordered(reqLevel, dReq)
			d.respOps = ordered(respLevel, dResp)
			d.authority = firstNonEmpty(reqLevel.authority, dReq.authority)
		} else {
			// Several: the weighted-cluster level is evaluated first, then
			// the route level, whose sets therefore win.
			d.reqOps = append(ordered(dReq), ordered(reqLevel)...)
			d.respOps = append(ordered(dResp), ordered(respLevel)...)
			d.authority = firstNonEmpty(dReq.authority, reqLevel.authority)
		}
		if r.rewrite != nil && r.rewrite.authority != "" {
			d.authority = r.rewrite.authority
		}
		w := uint64(max(rd.Weight, 0))
		if single {
			w = 1 // the weight of a lone destination is ignored
		}
		if w == 0 {
			continue // weight 0 is dropped from the weighted set
		}
		total += w
		d.upTo = total
		r.dests = append(r.dests, d)
	}
	if len(hr.Route) > 1 && total == 0 {
		errs.Add(fielderr.Join(path, "route"), "the weights of several destinations must sum to more than 0")
	}
	r.total = total
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// regexErr is regexp's message without its "error parsing regexp:"
// prefix, the expression being named already.
func regexErr(err error) string {
	var se *syntax.Error
	if errors.As(err, &se) {
		return se.Code.String() + ": `" + se.Expr + "`"
	}
	return err.Error()
}

// maxRegexLen bounds the length of a regex, as Istio's validation
// approximates Envoy's program-size limit.
const maxRegexLen = 1024

// rulesOf returns the host-selection rules of retry policy p.
func rulesOf(p *retrypolicy.Policy) engine.Rules {
	return engine.Rules{AvoidPrevious: p.AvoidPreviousHosts(), HashAvoid: p.AvoidPreviousHostsWhenHashing(),
		Remote: p.RetryRemoteLocalities(), Tries: p.HostSelectionAttempts()}
}
