package documents

import (
	"errors"
	"slices"
	"testing"
)

func TestNamesReadAndKind(t *testing.T) {
	names := Names()
	for _, want := range []string{"FleetDoctor-SetMetadataOptions", "FleetDoctor-AttachInstanceProfile", "FleetDoctor-EnableDHMC", "FleetDoctor-SetAccountMetadataDefaults"} {
		if !slices.Contains(names, want) {
			t.Errorf("Names() = %v, missing %s", names, want)
		}
		kind, err := Kind(want)
		if err != nil || kind != TypeAutomation {
			t.Errorf("Kind(%s) = %q, %v; want Automation", want, kind, err)
		}
		h, err := Info(want)
		if err != nil || h.SchemaVersion != "0.3" || h.Name != want || h.Description == "" {
			t.Errorf("Info(%s) = %+v, %v", want, h, err)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("Names() not sorted: %v", names)
	}
	for _, name := range names {
		b, err := Read(name)
		if err != nil || len(b) == 0 {
			t.Errorf("Read(%s): %d bytes, %v", name, len(b), err)
		}
		if _, err := Kind(name); err != nil {
			t.Errorf("Kind(%s): %v", name, err)
		}
	}
	for _, bad := range []string{"", "FleetDoctor-Nope", "FleetDoctor-EnableDHMC.yaml", "../go.mod", "x/y"} {
		if _, err := Read(bad); !errors.Is(err, ErrNotFound) {
			t.Errorf("Read(%q) = %v, want ErrNotFound", bad, err)
		}
	}
}

func TestTypeOf(t *testing.T) {
	for v, want := range map[string]string{"0.3": TypeAutomation, "2.2": TypeCommand, "1.2": TypeCommand, "2.0": TypeCommand} {
		if got, err := TypeOf(v); err != nil || got != want {
			t.Errorf("TypeOf(%q) = %q, %v; want %q", v, got, err, want)
		}
	}
	for _, v := range []string{"", "0.4", "3"} {
		if _, err := TypeOf(v); err == nil {
			t.Errorf("TypeOf(%q) accepted", v)
		}
	}
}
