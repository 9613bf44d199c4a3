// Tests of the host's option parsing, plugin command choice, GeneratePackage and Link. scripts/toolchain.sh runs
// them (`go test`) before it builds the host; the e2e tier (tests/e2e/test_component_hosts.py) runs the real
// `pulumi package add` and `pulumi up` through them.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	codegenrpc "github.com/pulumi/pulumi/sdk/v3/proto/go/codegen"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
)

func programInfo(t *testing.T, dir string, options map[string]any) *pulumirpc.ProgramInfo {
	t.Helper()
	opts, err := structpb.NewStruct(options)
	if err != nil {
		t.Fatal(err)
	}
	return &pulumirpc.ProgramInfo{RootDirectory: dir, ProgramDirectory: dir, EntryPoint: ".", Options: opts}
}

func TestParseOptionsGivesPluginsTheirOwnVirtualenv(t *testing.T) {
	h := &pythonHost{}
	cases := []struct {
		name     string
		options  map[string]any
		isPlugin bool
		want     string
	}{
		{"plugin, no options", nil, true, "venv"},
		{"plugin, pip", map[string]any{"toolchain": "pip"}, true, "venv"},
		{"plugin, explicit virtualenv", map[string]any{"virtualenv": "/abs/env"}, true, "/abs/env"},
		{"plugin, uv manages its own", map[string]any{"toolchain": "uv"}, true, ""},
		{"program or policy pack, no options", nil, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			opts, err := h.parseOptions(programInfo(t, t.TempDir(), c.options), c.isPlugin)
			if err != nil {
				t.Fatal(err)
			}
			if opts.Virtualenv != c.want {
				t.Errorf("virtualenv = %q, want %q", opts.Virtualenv, c.want)
			}
		})
	}
}

func TestParseOptionsRejectsWhatUpstreamRejects(t *testing.T) {
	h := &pythonHost{}
	for _, options := range []map[string]any{
		{"toolchain": "conda"},
		{"typechecker": "pytype"},
		{"virtualenv": 3.0},
	} {
		if _, err := h.parseOptions(programInfo(t, t.TempDir(), options), false); err == nil {
			t.Errorf("options %v: no error", options)
		}
	}
}

func TestParseOptionsPrefersProjectOptionsOverLegacyFlags(t *testing.T) {
	h := &pythonHost{flagOptions: map[string]string{"virtualenv": "from-flag", "toolchain": "poetry"}}
	opts, err := h.parseOptions(programInfo(t, t.TempDir(), map[string]any{"virtualenv": "from-yaml"}), false)
	if err != nil {
		t.Fatal(err)
	}
	if opts.Virtualenv != "from-yaml" || opts.Toolchain != toolchain.Poetry {
		t.Errorf("got virtualenv %q toolchain %s", opts.Virtualenv, toolchain.Name(opts.Toolchain))
	}
}

// fakeToolchain records the commands asked of it; `python -c "import pulumi.run.plugin"` succeeds unless
// oldSDK is set, when it fails like an SDK without that module.
type fakeToolchain struct {
	toolchain.Toolchain
	oldSDK bool
	module string
	args   []string
}

func (f *fakeToolchain) Command(ctx context.Context, args ...string) (*exec.Cmd, error) {
	if slices.Equal(args, []string{"-c", "import pulumi.run.plugin"}) {
		if f.oldSDK {
			return exec.CommandContext(ctx, "sh", "-c", "echo \"ModuleNotFoundError: No module named 'pulumi.run'\"; exit 1"), nil
		}
		return exec.CommandContext(ctx, "true"), nil
	}
	f.args = args
	return exec.CommandContext(ctx, "true"), nil
}

func (f *fakeToolchain) ModuleCommand(ctx context.Context, module string, args ...string) (*exec.Cmd, error) {
	f.module, f.args = module, args
	return exec.CommandContext(ctx, "true"), nil
}

const buildablePyproject = `[project]
name = "my-components"
version = "0.1.0"

[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"
`

func pluginRequest(t *testing.T, dir, kind string) (*pulumirpc.RunPluginRequest, toolchain.PythonOptions) {
	t.Helper()
	info := programInfo(t, dir, nil)
	opts, err := (&pythonHost{}).parseOptions(info, kind != analyzerKind)
	if err != nil {
		t.Fatal(err)
	}
	return &pulumirpc.RunPluginRequest{Info: info, Kind: kind, Args: []string{"127.0.0.1:1234"}}, opts
}

func TestPluginCommandRunsABuildablePackageWithoutBootstrap(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pyproject.toml"), []byte(buildablePyproject), 0o600); err != nil {
		t.Fatal(err)
	}
	req, opts := pluginRequest(t, dir, "resource")
	tc := &fakeToolchain{}
	if _, err := pluginCommand(context.Background(), tc, opts, req); err != nil {
		t.Fatal(err)
	}
	if tc.module != "pulumi.run.plugin" || !slices.Equal(tc.args, []string{"my-components", "127.0.0.1:1234"}) {
		t.Errorf("ran module %q with %v", tc.module, tc.args)
	}
}

func TestPluginCommandRunsTheFolderWhenItHasMainPyOrTheSDKIsOld(t *testing.T) {
	withMain := t.TempDir()
	for _, f := range []string{"__main__.py", "pyproject.toml"} {
		if err := os.WriteFile(filepath.Join(withMain, f), []byte(buildablePyproject), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	oldSDK := t.TempDir()
	if err := os.WriteFile(filepath.Join(oldSDK, "pyproject.toml"), []byte(buildablePyproject), 0o600); err != nil {
		t.Fatal(err)
	}
	for dir, tc := range map[string]*fakeToolchain{withMain: {}, oldSDK: {oldSDK: true}} {
		req, opts := pluginRequest(t, dir, "resource")
		if _, err := pluginCommand(context.Background(), tc, opts, req); err != nil {
			t.Fatal(err)
		}
		if tc.module != "" || !slices.Equal(tc.args, []string{"-u", dir, "127.0.0.1:1234"}) {
			t.Errorf("%s: ran module %q with %v", dir, tc.module, tc.args)
		}
	}
}

func TestPluginCommandRefusesAFolderItCannotRun(t *testing.T) {
	req, opts := pluginRequest(t, t.TempDir(), "resource")
	_, err := pluginCommand(context.Background(), &fakeToolchain{}, opts, req)
	if err == nil || !strings.Contains(err.Error(), "neither __main__.py nor a buildable pyproject.toml") {
		t.Errorf("err = %v", err)
	}
}

func TestPluginCommandRunsPolicyPacksAsBefore(t *testing.T) {
	dir := t.TempDir()
	req, opts := pluginRequest(t, dir, analyzerKind)
	tc := &fakeToolchain{}
	if _, err := pluginCommand(context.Background(), tc, opts, req); err != nil {
		t.Fatal(err)
	}
	if opts.Virtualenv != "" || tc.module != "" || !slices.Equal(tc.args, []string{"-u", dir, "127.0.0.1:1234"}) {
		t.Errorf("virtualenv %q, module %q, args %v", opts.Virtualenv, tc.module, tc.args)
	}
}

const greeterSchema = `{
  "name": "greeter",
  "version": "0.1.0",
  "resources": {
    "greeter:index:Greeter": {
      "isComponent": true,
      "inputProperties": {"name": {"type": "string"}},
      "requiredInputs": ["name"],
      "properties": {"message": {"type": "string"}},
      "required": ["message"]
    }
  }
}`

// oneSchemaLoader serves one package (or none) to the schema loader client, as the engine's loader would.
type oneSchemaLoader struct{ pkg *schema.Package }

var errUnknownPackage = errors.New("unknown package")

func (l oneSchemaLoader) LoadPackage(name string, _ *semver.Version) (*schema.Package, error) {
	if l.pkg == nil || name != l.pkg.Name {
		return nil, errUnknownPackage
	}
	return l.pkg, nil
}

func (l oneSchemaLoader) LoadPackageV2(_ context.Context, d *schema.PackageDescriptor) (*schema.Package, error) {
	return l.LoadPackage(d.Name, d.Version)
}

func (l oneSchemaLoader) LoadPackageReference(name string, v *semver.Version) (schema.PackageReference, error) {
	pkg, err := l.LoadPackage(name, v)
	if err != nil {
		return nil, err
	}
	return pkg.Reference(), nil
}

func (l oneSchemaLoader) LoadPackageReferenceV2(
	_ context.Context, d *schema.PackageDescriptor,
) (schema.PackageReference, error) {
	return l.LoadPackageReference(d.Name, d.Version)
}

func serveLoader(t *testing.T, spec string) string {
	t.Helper()
	var ps schema.PackageSpec
	if err := json.Unmarshal([]byte(spec), &ps); err != nil {
		t.Fatal(err)
	}
	pkg, diags, err := schema.BindSpec(ps, oneSchemaLoader{}, schema.ValidationOptions{})
	if err != nil || diags.HasErrors() {
		t.Fatalf("binding the test schema: %v %v", err, diags)
	}
	cancel := make(chan bool)
	t.Cleanup(func() { close(cancel) })
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: cancel,
		Init: func(srv *grpc.Server) error {
			codegenrpc.RegisterLoaderServer(srv, schema.NewLoaderServer(oneSchemaLoader{pkg}))
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return "127.0.0.1:" + strconv.Itoa(handle.Port)
}

func TestGeneratePackageWritesAnInstallablePythonSDK(t *testing.T) {
	dir := t.TempDir()
	resp, err := (&pythonHost{}).GeneratePackage(context.Background(), &pulumirpc.GeneratePackageRequest{
		Directory: dir, Schema: greeterSchema, LoaderTarget: serveLoader(t, greeterSchema), Local: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetDiagnostics()) != 0 {
		t.Fatalf("diagnostics: %v", resp.GetDiagnostics())
	}
	for _, f := range []string{"setup.py", "pulumi_greeter/__init__.py", "pulumi_greeter/greeter.py", "pulumi_greeter/pulumi-plugin.json"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Errorf("generated SDK lacks %s: %v", f, err)
		}
	}
	code, err := os.ReadFile(filepath.Join(dir, "pulumi_greeter", "greeter.py"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(code), "class Greeter(pulumi.ComponentResource)") {
		t.Errorf("greeter.py has no Greeter component class:\n%s", code)
	}
}

func TestGeneratePackageReturnsSchemaErrorsAsDiagnostics(t *testing.T) {
	dir := t.TempDir()
	broken := strings.Replace(greeterSchema, `"type": "string"}},`, `"type": "strng"}},`, 1)
	resp, err := (&pythonHost{}).GeneratePackage(context.Background(), &pulumirpc.GeneratePackageRequest{
		Directory: dir, Schema: broken, LoaderTarget: serveLoader(t, greeterSchema),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetDiagnostics()) == 0 {
		t.Fatal("no diagnostics for an unknown property type")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("files were written despite the errors: %v", entries)
	}
}

func TestLinkAddsTheSDKFolderToRequirements(t *testing.T) {
	dir := t.TempDir()
	requirements := filepath.Join(dir, "requirements.txt")
	if err := os.WriteFile(requirements, []byte("pulumi==3.260.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	resp, err := (&pythonHost{}).Link(context.Background(), &pulumirpc.LinkRequest{
		Info:         programInfo(t, dir, map[string]any{"toolchain": "pip"}),
		LoaderTarget: serveLoader(t, greeterSchema),
		Packages: []*pulumirpc.LinkRequest_LinkDependency{{
			Path:    filepath.Join("sdks", "greeter"),
			Package: &pulumirpc.PackageDependency{Name: "greeter", Version: "0.1.0", Kind: "resource"},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(requirements)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "pulumi==3.260.0\nsdks/greeter\n" {
		t.Errorf("requirements.txt:\n%s", got)
	}
	if !strings.Contains(resp.GetImportInstructions(), "import pulumi_greeter as greeter") {
		t.Errorf("instructions: %s", resp.GetImportInstructions())
	}
}

func TestLinkNeedsADependencyFile(t *testing.T) {
	_, err := (&pythonHost{}).Link(context.Background(), &pulumirpc.LinkRequest{
		Info:         programInfo(t, t.TempDir(), nil),
		LoaderTarget: serveLoader(t, greeterSchema),
		Packages: []*pulumirpc.LinkRequest_LinkDependency{{
			Path: "sdks/greeter", Package: &pulumirpc.PackageDependency{Name: "greeter", Version: "0.1.0"},
		}},
	})
	if err == nil || !strings.Contains(err.Error(), "no pyproject.toml or requirements.txt") {
		t.Errorf("err = %v", err)
	}
}

func TestTheHostStopsWhenTheEngineGoesAway(t *testing.T) {
	engineGone := make(chan bool)
	engine, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{Cancel: engineGone}) // answers health checks
	if err != nil {
		t.Fatal(err)
	}
	stop, err := watchEngine("127.0.0.1:"+strconv.Itoa(engine.Port), 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-stop:
		t.Fatal("stopped while the engine answers")
	case <-time.After(300 * time.Millisecond):
	}
	close(engineGone)
	<-engine.Done
	select {
	case <-stop:
	case <-time.After(5 * time.Second):
		t.Fatal("still serving 5 s after the engine went away")
	}
}
