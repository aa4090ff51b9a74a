package main

import (
	"fmt"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/switchyard-go/switchyard"
	"github.com/switchyard-go/switchyard/route"
)

func newDiff() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Show what would change in routing between two configurations",
		Long: `diff compares two configurations (each a file or a directory) as switchyard
reads them and says, host by host, what would change in routing: routes
added, removed, moved or changed (match, destinations and their shares of
traffic, timeout, retries, faults, mirrors, rewrites, redirects, direct
responses, header operations), subsets and traffic policies changed,
service ports and endpoints added, removed or changed. Formatting,
comments, field order and the order of documents make no difference.

Routes are told apart by their VirtualService and their name, or their
position ("reviews.0") when they have none: name routes to see an
inserted route as one addition. Shares are computed from the weights, so
"90/10" and "9/1" are the same split.

Both configurations must be valid (see switchyard validate).

Exit status: 0 no difference, 1 differences, 2 trouble (as diff(1)).

With --output json it prints one object:

  {"different": true,
   "hosts": [{"host": "reviews",
              "changes": [{"kind": "route", "name": "reviews.0", "from": "VirtualService default/reviews",
                           "change": "changed",
                           "fields": [{"field": "destinations", "old": [...], "new": [...]}]}]}]}

"kind" is virtualService, route, subset, trafficPolicy, service or
endpoint; "change" is added, removed or changed; an added entry lists its
fields with "new" only, a removed one with "old" only. Each destination is
{"host", "subset", "port", "headers", "share"} with "share" in percent.`,
		Example: `  switchyard diff live/ proposed/
  git show main:mesh.yaml > /tmp/old.yaml && switchyard diff /tmp/old.yaml mesh.yaml -o json`,
		Args:              cobra.ExactArgs(2),
		ValidArgsFunction: manifestArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			var cfgs [2]switchyard.Config
			for i, a := range args {
				l, errs, err := load([]string{a}, cmd.InOrStdin())
				if err != nil {
					return err
				}
				if len(errs) > 0 {
					for _, f := range errs {
						fmt.Fprintln(cmd.ErrOrStderr(), f)
					}
					return trouble("%s is invalid (%s); switchyard validate says more", a, plural(len(errs), "error"))
				}
				cfgs[i] = l.cfg
			}
			hosts := diffConfigs(cfgs[0], cfgs[1])
			if output == "json" {
				if hosts == nil {
					hosts = []hostDiff{}
				}
				if err := writeJSON(cmd.OutOrStdout(), struct {
					Different bool       `json:"different"`
					Hosts     []hostDiff `json:"hosts"`
				}{len(hosts) > 0, hosts}); err != nil {
					return err
				}
			} else {
				textDiff(cmd.OutOrStdout(), hosts)
			}
			if len(hosts) > 0 {
				return &exitError{code: exitNo}
			}
			return nil
		},
	}
	outputFlag(cmd, &output)
	return cmd
}

type hostDiff struct {
	Host    string   `json:"host"`
	Changes []change `json:"changes"`
}

type change struct {
	Kind   string        `json:"kind"`
	Name   string        `json:"name"`
	From   string        `json:"from"`
	Change string        `json:"change"`
	Fields []fieldChange `json:"fields,omitempty"`
}

type fieldChange struct {
	Field string `json:"field"`
	Old   any    `json:"old,omitempty"`
	New   any    `json:"new,omitempty"`
}

// entry is one thing a host's routing depends on, as plain fields.
type entry struct {
	kind, name, from string
	fields           map[string]any
	order            []string // field order for output
	rank             int      // position among the host's routes
}

func (e *entry) key() string { return e.kind + "\x00" + e.from + "\x00" + e.name }

// hostEntries lists, per host, what its routing depends on.
func hostEntries(cfg switchyard.Config) map[string][]*entry {
	out := map[string][]*entry{}
	for i := range cfg.VirtualServices {
		vs := &cfg.VirtualServices[i]
		from := "VirtualService " + qualified(vs.Namespace, vs.Name)
		var entries []*entry
		if f := fieldsOf(map[string]any{"gateways": plain(vs.Gateways), "exportTo": plain(vs.ExportTo)}); len(f) > 0 {
			entries = append(entries, &entry{kind: "virtualService", name: qualified(vs.Namespace, vs.Name), from: from, fields: f, order: []string{"gateways", "exportTo"}})
		}
		for j := range vs.HTTP {
			hr := &vs.HTTP[j]
			name := hr.Name
			if name == "" {
				name = fmt.Sprintf("%s.%d", vs.Name, j)
			}
			e := &entry{kind: "route", name: name, from: from, rank: j, fields: map[string]any{},
				order: []string{"match", "destinations"}}
			if m := plain(hr.Match); m != nil {
				e.fields["match"] = m
			}
			if d := destinations(hr.Route); d != nil {
				e.fields["destinations"] = d
			}
			for _, p := range routePolicies(hr) {
				e.fields[p.name] = p.value
				e.order = append(e.order, p.name)
			}
			entries = append(entries, e)
		}
		for _, h := range vs.Hosts {
			out[h] = append(out[h], entries...)
		}
	}
	for i := range cfg.DestinationRules {
		dr := &cfg.DestinationRules[i]
		from := "DestinationRule " + qualified(dr.Namespace, dr.Name)
		if tp, ok := plain(dr.TrafficPolicy).(map[string]any); ok && len(tp) > 0 {
			out[dr.Host] = append(out[dr.Host], &entry{kind: "trafficPolicy", name: qualified(dr.Namespace, dr.Name), from: from, fields: tp})
		}
		if ex := plain(dr.ExportTo); ex != nil {
			out[dr.Host] = append(out[dr.Host], &entry{kind: "trafficPolicy", name: qualified(dr.Namespace, dr.Name) + " exportTo", from: from, fields: map[string]any{"exportTo": ex}})
		}
		for _, s := range dr.Subsets {
			f := fieldsOf(map[string]any{"labels": plain(s.Labels), "trafficPolicy": plain(s.TrafficPolicy)})
			out[dr.Host] = append(out[dr.Host], &entry{kind: "subset", name: s.Name, from: from, fields: f, order: []string{"labels", "trafficPolicy"}})
		}
	}
	for i := range cfg.ServiceEntries {
		se := &cfg.ServiceEntries[i]
		from := "ServiceEntry " + qualified(se.Namespace, se.Name)
		svc, _ := plain(*se).(map[string]any)
		delete(svc, "hosts")
		delete(svc, "endpoints")
		for _, h := range se.Hosts {
			out[h] = append(out[h], &entry{kind: "service", name: qualified(se.Namespace, se.Name), from: from, fields: svc,
				order: []string{"ports", "resolution", "location", "addresses", "exportTo", "subjectAltNames"}})
			seen := map[string]int{}
			for _, ep := range se.Endpoints {
				f, _ := plain(ep).(map[string]any)
				delete(f, "address")
				name := ep.Address
				if seen[name]++; seen[name] > 1 {
					name = fmt.Sprintf("%s #%d", name, seen[name])
				}
				out[h] = append(out[h], &entry{kind: "endpoint", name: name, from: from, fields: f,
					order: []string{"labels", "ports", "weight", "locality", "network", "serviceAccount"}})
			}
		}
	}
	return out
}

// fieldsOf drops the unset values of m.
func fieldsOf(m map[string]any) map[string]any {
	for k, v := range m {
		if v == nil {
			delete(m, k)
		}
	}
	return m
}

// destinations lists a route's destinations with their share of traffic,
// in percent: weights are relative, a lone destination takes everything.
func destinations(rds []route.RouteDestination) any {
	if len(rds) == 0 {
		return nil
	}
	var total int64
	for _, d := range rds {
		total += int64(d.Weight)
	}
	out := make([]any, 0, len(rds))
	for _, d := range rds {
		share := 0.0
		switch {
		case len(rds) == 1:
			share = 100
		case total > 0:
			share = round(100 * float64(d.Weight) / float64(total))
		}
		m := map[string]any{"host": d.Destination.Host, "share": share}
		if d.Destination.Subset != "" {
			m["subset"] = d.Destination.Subset
		}
		if d.Destination.Port != nil && d.Destination.Port.Number != 0 {
			m["port"] = int64(d.Destination.Port.Number)
		}
		if h := plain(d.Headers); h != nil {
			m["headers"] = h
		}
		out = append(out, m)
	}
	return out
}

// diffConfigs compares two configurations host by host.
func diffConfigs(old, new switchyard.Config) []hostDiff {
	olds, news := hostEntries(old), hostEntries(new)
	var hosts []string
	for h := range olds {
		hosts = append(hosts, h)
	}
	for h := range news {
		if _, ok := olds[h]; !ok {
			hosts = append(hosts, h)
		}
	}
	slices.Sort(hosts)
	var out []hostDiff
	for _, h := range hosts {
		if cs := diffEntries(olds[h], news[h]); len(cs) > 0 {
			out = append(out, hostDiff{Host: h, Changes: cs})
		}
	}
	return out
}

var kindOrder = []string{"virtualService", "route", "subset", "trafficPolicy", "service", "endpoint"}

func diffEntries(old, new []*entry) []change {
	oldBy := map[string]*entry{}
	for _, e := range old {
		oldBy[e.key()] = e
	}
	newBy := map[string]*entry{}
	for _, e := range new {
		newBy[e.key()] = e
	}
	// The order of the routes both have, to tell a route moved relative to
	// the others (first match wins) from one shifted by an insertion.
	moved := map[string][2]int{}
	var oldCommon, newCommon []*entry
	for _, e := range old {
		if e.kind == "route" && newBy[e.key()] != nil {
			oldCommon = append(oldCommon, e)
		}
	}
	for _, e := range new {
		if e.kind == "route" && oldBy[e.key()] != nil {
			newCommon = append(newCommon, e)
		}
	}
	for i, e := range newCommon {
		if o := oldBy[e.key()]; i < len(oldCommon) && oldCommon[i].key() != e.key() && o.rank != e.rank {
			moved[e.key()] = [2]int{o.rank, e.rank}
		}
	}

	var out []change
	for _, kind := range kindOrder {
		// New order first, then what was removed, in old order.
		for _, e := range new {
			if e.kind != kind {
				continue
			}
			o := oldBy[e.key()]
			if o == nil {
				c := change{Kind: e.kind, Name: e.name, From: e.from, Change: "added"}
				for _, f := range fieldOrder(e, nil) {
					c.Fields = append(c.Fields, fieldChange{Field: f, New: e.fields[f]})
				}
				if e.kind == "route" {
					c.Fields = append([]fieldChange{{Field: "position", New: e.rank}}, c.Fields...)
				}
				out = append(out, c)
				continue
			}
			c := change{Kind: e.kind, Name: e.name, From: e.from, Change: "changed"}
			if m, ok := moved[e.key()]; ok {
				c.Fields = append(c.Fields, fieldChange{Field: "position", Old: m[0], New: m[1]})
			}
			for _, f := range fieldOrder(e, o) {
				if f == "destinations" {
					if !reflect.DeepEqual(o.fields[f], e.fields[f]) {
						c.Fields = append(c.Fields, fieldChange{Field: f, Old: o.fields[f], New: e.fields[f]})
					}
					continue
				}
				c.Fields = diffValue(c.Fields, f, o.fields[f], e.fields[f])
			}
			if len(c.Fields) > 0 {
				out = append(out, c)
			}
		}
		for _, o := range old {
			if o.kind != kind || newBy[o.key()] != nil {
				continue
			}
			c := change{Kind: o.kind, Name: o.name, From: o.from, Change: "removed"}
			for _, f := range fieldOrder(o, nil) {
				c.Fields = append(c.Fields, fieldChange{Field: f, Old: o.fields[f]})
			}
			out = append(out, c)
		}
	}
	return out
}

// diffValue appends the changes from old to new at path: field by field
// inside objects, whole otherwise.
func diffValue(out []fieldChange, path string, old, new any) []fieldChange {
	om, oldIsMap := old.(map[string]any)
	nm, newIsMap := new.(map[string]any)
	if !oldIsMap || !newIsMap {
		if !reflect.DeepEqual(old, new) {
			out = append(out, fieldChange{Field: path, Old: old, New: new})
		}
		return out
	}
	keys := map[string]bool{}
	for k := range om {
		keys[k] = true
	}
	for k := range nm {
		keys[k] = true
	}
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		out = diffValue(out, path+"."+k, om[k], nm[k])
	}
	return out
}

// fieldOrder lists the fields of a and b: the declared order, then the
// rest sorted.
func fieldOrder(a, b *entry) []string {
	seen := map[string]bool{}
	var out []string
	add := func(f string) {
		if seen[f] {
			return
		}
		seen[f] = true
		_, inA := a.fields[f]
		inB := false
		if b != nil {
			_, inB = b.fields[f]
		}
		if inA || inB {
			out = append(out, f)
		}
	}
	for _, f := range a.order {
		add(f)
	}
	var rest []string
	for f := range a.fields {
		rest = append(rest, f)
	}
	if b != nil {
		for f := range b.fields {
			rest = append(rest, f)
		}
	}
	slices.Sort(rest)
	for _, f := range rest {
		add(f)
	}
	return out
}

func textDiff(w io.Writer, hosts []hostDiff) {
	if len(hosts) == 0 {
		fmt.Fprintln(w, "no difference in routing")
		return
	}
	for i, h := range hosts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "host %s\n", h.Host)
		for _, c := range h.Changes {
			sign := map[string]string{"added": "+", "removed": "-", "changed": "~"}[c.Change]
			what := c.Kind + " " + c.Name
			if strings.HasSuffix(c.From, " "+c.Name) {
				what = c.Kind // the resource's own settings
			}
			fmt.Fprintf(w, "  %s %s (%s): %s\n", sign, what, c.From, c.Change)
			for _, f := range c.Fields {
				if f.Field == "destinations" {
					textDestinations(w, c.Change, f)
					continue
				}
				switch c.Change {
				case "added":
					fmt.Fprintf(w, "      %s: %s\n", f.Field, compact(f.New))
				case "removed":
					fmt.Fprintf(w, "      %s: %s\n", f.Field, compact(f.Old))
				default:
					fmt.Fprintf(w, "      %s: %s → %s\n", f.Field, orNone(f.Old), orNone(f.New))
				}
			}
		}
	}
}

func orNone(v any) string {
	if v == nil {
		return "(none)"
	}
	return compact(v)
}

// textDestinations shows destinations one per line with their share, and
// how each share changed.
func textDestinations(w io.Writer, how string, f fieldChange) {
	type share struct {
		name     string
		old, new any
	}
	var shares []*share
	byName := map[string]*share{}
	collect := func(v any, isOld bool) {
		list, _ := v.([]any)
		for _, d := range list {
			m, _ := d.(map[string]any)
			name := fmt.Sprint(m["host"])
			if s, ok := m["subset"]; ok {
				name += fmt.Sprintf(" subset %v", s)
			}
			if p, ok := m["port"]; ok {
				name += fmt.Sprintf(" port %v", p)
			}
			if h, ok := m["headers"]; ok {
				name += " headers " + compact(h)
			}
			s := byName[name]
			if s == nil {
				s = &share{name: name}
				byName[name] = s
				shares = append(shares, s)
			}
			pct := fmt.Sprintf("%v%%", m["share"])
			if isOld {
				s.old = pct
			} else {
				s.new = pct
			}
		}
	}
	collect(f.Old, true)
	collect(f.New, false)
	fmt.Fprintf(w, "      destinations:\n")
	for _, s := range shares {
		switch how {
		case "added":
			fmt.Fprintf(w, "        %s: %v\n", s.name, s.new)
		case "removed":
			fmt.Fprintf(w, "        %s: %v\n", s.name, s.old)
		default:
			fmt.Fprintf(w, "        %s: %s → %s\n", s.name, orNone(s.old), orNone(s.new))
		}
	}
}
