package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"
)

func newValidate() *cobra.Command {
	var output string
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate FILES...",
		Short: "Check manifests as switchyard reads them; report every problem with its file and line",
		Long: `validate parses the manifests with switchyard.Parse and builds a mesh from
them with switchyard.New, as a program using the library would, and reports
every problem: file:line, document, resource, field path, and what is
wrong (with the field meant, for a misspelt one). The configuration as a
whole (references between resources) is checked once every file parses.

Exit status: 0 valid, 1 invalid (or, with --strict, warnings), 2 trouble.

With --output json it prints one object (the schema is stable; fields may
be added):

  {
    "valid": false,
    "files": ["mesh.yaml"],
    "resources": {"DestinationRule": 1, "ServiceEntry": 1, "VirtualService": 1},
    "errors": [{"file": "mesh.yaml", "line": 47, "document": 3, "item": 0,
                "resource": "VirtualService default/reviews",
                "field": "spec.http[0].route[0].destination.hots",
                "message": "unknown field (did you mean \"host\"?)"}],
    "warnings": []
  }

"item" is the index in a List document and appears only there; "line",
"document", "resource" and "field" are left out when unknown. Warnings have
the errors' form.`,
		Example: `  switchyard validate mesh.yaml
  switchyard validate manifests/ --output json
  kubectl get virtualservices,destinationrules,serviceentries -A -o yaml | switchyard validate -`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("give the manifests to check: files, directories, or - for standard input")
			}
			return nil
		},
		ValidArgsFunction: manifestArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output); err != nil {
				return err
			}
			l, errs, err := load(args, cmd.InOrStdin())
			if err != nil {
				return err
			}
			r := validateReport{Valid: true, Files: []string{}, Resources: map[string]int{}, Errors: errs, Warnings: warnings(l)}
			for _, s := range l.sources {
				r.Files = append(r.Files, s.name)
			}
			for _, s := range l.cfg.Skipped {
				r.Skipped = append(r.Skipped, s.String())
			}
			r.Resources["ServiceEntry"] = len(l.cfg.ServiceEntries)
			r.Resources["DestinationRule"] = len(l.cfg.DestinationRules)
			r.Resources["VirtualService"] = len(l.cfg.VirtualServices)
			if r.Errors == nil {
				r.Errors = []finding{}
			}
			if r.Warnings == nil {
				r.Warnings = []finding{}
			}
			r.Valid = len(r.Errors) == 0 && (!strict || len(r.Warnings) == 0)
			parsed := len(l.errs) == 0
			if output == "json" {
				if err := writeJSON(cmd.OutOrStdout(), r); err != nil {
					return err
				}
			} else {
				r.text(cmd.OutOrStdout(), parsed, strict)
			}
			if !r.Valid {
				return &exitError{code: exitNo}
			}
			return nil
		},
	}
	outputFlag(cmd, &output)
	cmd.Flags().BoolVar(&strict, "strict", false, "fail (exit 1) on warnings too")
	return cmd
}

// validateReport is validate's output; its JSON form is documented in the
// command's help.
type validateReport struct {
	Valid     bool           `json:"valid"`
	Files     []string       `json:"files"`
	Resources map[string]int `json:"resources"`
	Errors    []finding      `json:"errors"`
	Warnings  []finding      `json:"warnings"`
	// Skipped lists the documents of kinds switchyard does not act on
	// ("Service default/reviews (v1)"), omitted when there are none.
	Skipped []string `json:"skipped,omitempty"`
}

func (r validateReport) text(w io.Writer, parsed, strict bool) {
	for _, f := range r.Errors {
		fmt.Fprintln(w, f)
	}
	for _, f := range r.Warnings {
		f.Message = "warning: " + f.Message
		fmt.Fprintln(w, f)
	}
	var counts []string
	for _, kind := range slices.Sorted(maps.Keys(r.Resources)) {
		counts = append(counts, plural(r.Resources[kind], kind))
	}
	summary := fmt.Sprintf("%s (%s)", plural(len(r.Files), "file"), strings.Join(counts, ", "))
	var problems []string
	if len(r.Errors) > 0 {
		problems = append(problems, plural(len(r.Errors), "error"))
	}
	if len(r.Warnings) > 0 {
		ws := plural(len(r.Warnings), "warning")
		if strict {
			ws += " (--strict)"
		}
		problems = append(problems, ws)
	}
	switch {
	case r.Valid && len(problems) == 0:
		fmt.Fprintf(w, "valid: %s\n", summary)
	case r.Valid:
		fmt.Fprintf(w, "valid: %s, with %s\n", summary, strings.Join(problems, ", "))
	default:
		fmt.Fprintf(w, "invalid: %s: %s\n", summary, strings.Join(problems, ", "))
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "skipped %s switchyard does not act on: %s\n", plural(len(r.Skipped), "document"), strings.Join(r.Skipped, ", "))
	}
	if !parsed {
		fmt.Fprintln(w, "(references between resources are checked once every file parses)")
	}
}

// warnings returns the warnings of the configuration l holds, located.
func warnings(l *loaded) []finding { return l.warns }

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	switch {
	case strings.HasSuffix(noun, "y"):
		noun = strings.TrimSuffix(noun, "y") + "ies"
	default:
		noun += "s"
	}
	return fmt.Sprintf("%d %s", n, noun)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// manifestArgs completes positional arguments with manifest files.
func manifestArgs(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return []string{"yaml", "yml", "json"}, cobra.ShellCompDirectiveFilterFileExt
}
