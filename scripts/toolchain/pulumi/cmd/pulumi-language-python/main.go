// Command pulumi-language-python is a small Python language host for the Pulumi engine.
//
// Why this exists: upstream's language host lives in its own Go module
// (github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3) which the Go module proxy
// reachable from our build machines does not serve at any version. This host covers what the CLI asks of a
// Python host for `pulumi preview/up/destroy/refresh`, policy packs, Python component providers and
// `pulumi package add`, using the public packages upstream's host uses (sdk/v3 python/toolchain for
// pip / virtualenv / poetry / uv; pkg/v3 codegen for SDK generation):
//
//   - Run: starts `python -u pulumi-language-python-exec ...` (the executor script shipped in the
//     sdk/v3 module, which must sit in the same folder as this binary) with the same arguments and
//     PULUMI_CONFIG / PULUMI_CONFIG_SECRET_KEYS environment the upstream host uses;
//   - RunPlugin: runs policy packs and Python plugins such as component providers, from their folder
//     (__main__.py) or, for a pip-installable package without one, with `python -m pulumi.run.plugin`;
//   - InstallDependencies (which also installs such a package into its plugin virtualenv), About,
//     GetProgramDependencies: delegated to the sdk/v3 toolchain package;
//   - GetRequiredPackages: reads pulumi-plugin.json of the installed Pulumi packages, so the engine
//     knows which provider plugins (and versions) the program will need;
//   - GeneratePackage, Link (packages.go): the Python SDK of a package and its entry in the program's
//     dependencies, for `pulumi package add` / `pulumi install`.
//
// Runtime options are parsed as upstream parses them (parseOptions). Not implemented (the engine reports
// "unimplemented"): running mypy/pyright for the typechecker option, pulumi convert (GenerateProgram,
// GenerateProject), Pack (`package pack-sdk`), templates, debugger attachment.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// version is stamped at build time (-X main.version=3.x.y).
var version = "3.260.0"

// Exit code used by pulumi-language-python-exec after it has already shown the error to the user.
const execBailExitCode = 32

func main() {
	// The engine starts language hosts as `pulumi-language-python [-flag=value ...] ENGINE_ADDRESS`.
	// Older engines passed runtime options as flags; accept any flag so unknown ones never abort us.
	flags := map[string]string{}
	var positional []string
	for _, a := range os.Args[1:] {
		if strings.HasPrefix(a, "-") && len(positional) == 0 {
			k, v, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
			flags[k] = v
			continue
		}
		positional = append(positional, a)
	}
	if _, ok := flags["version"]; ok {
		fmt.Println(version)
		return
	}
	engineAddress := ""
	if len(positional) > 0 {
		engineAddress = positional[0]
	}

	executor, err := findExecutor()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pulumi-language-python:", err)
		os.Exit(1)
	}

	// Stop serving when the engine goes away (as upstream's host does), or a failed or interrupted CLI run
	// leaves this process behind.
	var stop chan bool
	if engineAddress != "" {
		if stop, err = watchEngine(engineAddress, engineHealthInterval); err != nil {
			fmt.Fprintln(os.Stderr, "pulumi-language-python: could not start health check of the engine:", err)
			os.Exit(1)
		}
	}
	host := &pythonHost{exec: executor, engineAddress: engineAddress, flagOptions: flags}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Cancel: stop,
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, host)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pulumi-language-python: could not start language host RPC server:", err)
		os.Exit(1)
	}
	// Tell the engine where to reach us.
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintln(os.Stderr, "pulumi-language-python: RPC server stopped:", err)
		os.Exit(1)
	}
}

// engineHealthInterval is how often the host checks that the engine still answers (upstream: 5 minutes).
var engineHealthInterval = 5 * time.Minute

// watchEngine returns a channel that is closed when the engine at address stops answering health checks
// (polled every interval) or the host gets SIGINT: the cue for the RPC server to stop.
func watchEngine(address string, interval time.Duration) (chan bool, error) {
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt)
	stop := make(chan bool)
	go func() {
		<-ctx.Done()
		cancel()
		close(stop)
	}()
	if err := rpcutil.Healthcheck(ctx, address, interval, cancel); err != nil {
		cancel()
		return nil, err
	}
	return stop, nil
}

// findExecutor locates pulumi-language-python-exec next to this binary (like upstream), then on PATH.
func findExecutor() (string, error) {
	const name = "pulumi-language-python-exec"
	if self, err := os.Executable(); err == nil {
		if resolved, err := filepath.EvalSymlinks(self); err == nil {
			self = resolved
		}
		candidate := filepath.Join(filepath.Dir(self), name)
		if _, err := os.Stat(candidate); err == nil {
			return candidate, nil
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("missing executor %q: it must be in the same folder as this binary or on PATH", name)
}

type pythonHost struct {
	pulumirpc.UnimplementedLanguageRuntimeServer

	exec          string
	engineAddress string
	flagOptions   map[string]string

	mu sync.Mutex
}

// parseOptions reads the runtime options of Pulumi.yaml / PulumiPlugin.yaml (virtualenv, toolchain,
// typechecker), falling back to the legacy command-line flags, exactly as upstream's host does: unknown
// values are an error, and a plugin (a component provider; not a policy pack) run with pip or the
// auto-detected toolchain gets the virtualenv "venv" (in its folder) when it names none, since plugins
// never run in the ambient Python environment.
func (h *pythonHost) parseOptions(info *pulumirpc.ProgramInfo, isPlugin bool) (toolchain.PythonOptions, error) {
	opts := toolchain.PythonOptions{}
	values := map[string]any{}
	for _, k := range []string{"virtualenv", "toolchain", "typechecker"} {
		if v, ok := h.flagOptions[k]; ok && v != "" {
			values[k] = v
		}
	}
	if info != nil {
		opts.Root = info.GetRootDirectory()
		opts.ProgramDir = info.GetProgramDirectory()
		if info.GetOptions() != nil {
			for k, v := range info.GetOptions().AsMap() {
				values[k] = v
			}
		}
	}
	str := func(k string) (string, error) {
		v, ok := values[k]
		if !ok {
			return "", nil
		}
		s, ok := v.(string)
		if !ok {
			return "", fmt.Errorf("%s option must be a string", k)
		}
		return s, nil
	}
	venv, err := str("virtualenv")
	if err != nil {
		return opts, err
	}
	opts.Virtualenv = venv
	switch tc, err := str("typechecker"); {
	case err != nil:
		return opts, err
	case tc == "":
	case tc == "mypy":
		opts.Typechecker = toolchain.TypeCheckerMypy
	case tc == "pyright":
		opts.Typechecker = toolchain.TypeCheckerPyright
	default:
		return opts, fmt.Errorf("unsupported typechecker option: %s", tc)
	}
	switch tc, err := str("toolchain"); {
	case err != nil:
		return opts, err
	case tc == "":
		opts.Toolchain = toolchain.Auto
	case tc == "pip":
		opts.Toolchain = toolchain.Pip
	case tc == "poetry":
		opts.Toolchain = toolchain.Poetry
	case tc == "uv":
		opts.Toolchain = toolchain.Uv
	default:
		return opts, fmt.Errorf("unsupported toolchain option: %s", tc)
	}
	if isPlugin && (opts.Toolchain == toolchain.Pip || opts.Toolchain == toolchain.Auto) && opts.Virtualenv == "" {
		opts.Virtualenv = "venv"
	}
	return opts, nil
}

func (h *pythonHost) toolchainFor(info *pulumirpc.ProgramInfo,
	isPlugin bool,
) (toolchain.Toolchain, toolchain.PythonOptions, error) {
	opts, err := h.parseOptions(info, isPlugin)
	if err != nil {
		return nil, opts, err
	}
	tc, err := toolchain.ResolveToolchain(opts)
	return tc, opts, err
}

// virtualenvAbs returns the absolute path of the virtualenv the options name (relative to the root), or "".
func virtualenvAbs(opts toolchain.PythonOptions) string {
	if opts.Virtualenv == "" || filepath.IsAbs(opts.Virtualenv) {
		return opts.Virtualenv
	}
	return filepath.Join(opts.Root, opts.Virtualenv)
}

func (h *pythonHost) Handshake(ctx context.Context,
	req *pulumirpc.LanguageHandshakeRequest,
) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.GetEngineAddress() != "" {
		h.engineAddress = req.GetEngineAddress()
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *pythonHost) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *pythonHost) GetRequiredPlugins(ctx context.Context,
	req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	pkgs, err := h.requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPluginsResponse{}
	for _, p := range pkgs {
		resp.Plugins = append(resp.Plugins, &pulumirpc.PluginDependency{
			Name: p.Name, Kind: p.Kind, Version: p.Version, Server: p.Server,
		})
	}
	return resp, nil
}

func (h *pythonHost) GetRequiredPackages(ctx context.Context,
	req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	pkgs, err := h.requiredPackages(ctx, req.GetInfo())
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

// listPluginsScript prints the pulumi-plugin.json of every installed distribution that ships one.
const listPluginsScript = `
import json, importlib.metadata as md
out = []
for d in md.distributions():
    for f in (d.files or []):
        if f.name == "pulumi-plugin.json":
            try:
                data = json.loads(f.read_text())
            except Exception:
                continue
            if isinstance(data, dict) and data.get("resource"):
                out.append({"dist": d.metadata["Name"], "name": data.get("name") or "",
                            "version": data.get("version") or "", "server": data.get("server") or ""})
print(json.dumps(out))
`

func (h *pythonHost) requiredPackages(ctx context.Context,
	info *pulumirpc.ProgramInfo,
) ([]*pulumirpc.PackageDependency, error) {
	tc, _, err := h.toolchainFor(info, false)
	if err != nil {
		return nil, err
	}
	cmd, err := tc.Command(ctx, "-c", listPluginsScript)
	if err != nil {
		return nil, err
	}
	if info != nil {
		cmd.Dir = info.GetProgramDirectory()
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		// Same as upstream: a broken environment shows up when the program runs; don't block here.
		fmt.Fprintf(os.Stderr, "warning: could not list installed Pulumi packages: %v %s\n", err, stderr.String())
		return nil, nil
	}
	var found []struct {
		Dist, Name, Version, Server string
	}
	if err := json.Unmarshal(out, &found); err != nil {
		return nil, fmt.Errorf("parsing installed Pulumi packages: %w", err)
	}
	var pkgs []*pulumirpc.PackageDependency
	seen := map[string]bool{}
	for _, f := range found {
		name := f.Name
		if name == "" {
			name = strings.TrimPrefix(strings.ReplaceAll(strings.ToLower(f.Dist), "_", "-"), "pulumi-")
		}
		if name == "" || seen[name] {
			continue
		}
		seen[name] = true
		v := f.Version
		if v != "" && !strings.HasPrefix(v, "v") {
			v = "v" + v
		}
		pkgs = append(pkgs, &pulumirpc.PackageDependency{
			Name: name, Kind: "resource", Version: v, Server: f.Server,
		})
	}
	return pkgs, nil
}

func (h *pythonHost) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	tc, opts, err := h.toolchainFor(info, false)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	if venv := virtualenvAbs(opts); venv != "" {
		if _, err := os.Stat(filepath.Join(venv, "bin", "python")); err != nil {
			return &pulumirpc.RunResponse{Error: fmt.Sprintf(
				"the 'virtualenv' option in Pulumi.yaml is set to %q, but %q is not a virtual environment "+
					"(create it with python3 -m venv and install the requirements)", opts.Virtualenv, venv)}, nil
		}
	}

	h.mu.Lock()
	engine := h.engineAddress
	h.mu.Unlock()

	program := req.GetProgram()
	root := ""
	if info != nil {
		root = info.GetRootDirectory()
		program = info.GetProgramDirectory()
		if ep := info.GetEntryPoint(); ep != "" && ep != "." {
			program = filepath.Join(program, ep)
		}
	}
	if program == "" {
		program = "."
	}

	args := []string{"-u", h.exec}
	add := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	add("monitor", req.GetMonitorAddress())
	add("engine", engine)
	add("project", req.GetProject())
	add("stack", req.GetStack())
	add("pwd", req.GetPwd())
	add("dry_run", strconv.FormatBool(req.GetDryRun()))
	add("parallel", strconv.Itoa(int(req.GetParallel())))
	add("organization", req.GetOrganization())
	add("root_directory", root)
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	cmd, err := tc.Command(ctx, args...)
	if err != nil {
		return &pulumirpc.RunResponse{Error: err.Error()}, nil
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	if cfg := req.GetConfig(); cfg != nil {
		b, err := json.Marshal(cfg)
		if err != nil {
			return nil, fmt.Errorf("serializing configuration: %w", err)
		}
		env = append(env, "PULUMI_CONFIG="+string(b))
	}
	if keys := req.GetConfigSecretKeys(); keys != nil {
		b, err := json.Marshal(keys)
		if err != nil {
			return nil, fmt.Errorf("serializing configuration secret keys: %w", err)
		}
		env = append(env, "PULUMI_CONFIG_SECRET_KEYS="+string(b))
	}
	// Dynamic providers (pulumi-resource-pulumi-python) find the program's environment through these.
	if venv := virtualenvAbs(opts); venv != "" {
		env = append(env, "PULUMI_RUNTIME_VIRTUALENV="+venv)
	}
	if opts.Toolchain != toolchain.Auto {
		env = append(env, "PULUMI_RUNTIME_TOOLCHAIN="+strings.ToLower(toolchain.Name(opts.Toolchain)))
	}
	cmd.Env = env
	cmd.Dir = req.GetPwd()
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr

	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if status, ok := exitErr.Sys().(syscall.WaitStatus); ok {
				if status.ExitStatus() == execBailExitCode {
					return &pulumirpc.RunResponse{Bail: true}, nil
				}
				return &pulumirpc.RunResponse{
					Error: fmt.Sprintf("Program exited with non-zero exit code: %d", status.ExitStatus()),
				}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited unexpectedly: %v", exitErr)}, nil
		}
		return &pulumirpc.RunResponse{
			Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err),
		}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

// streamWriter forwards output to a gRPC stream.
type streamWriter struct {
	mu   *sync.Mutex
	send func([]byte) error
}

func (w streamWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := append([]byte(nil), p...)
	if err := w.send(b); err != nil {
		return 0, err
	}
	return len(p), nil
}

// analyzerKind is the plugin kind of policy packs (apitype.AnalyzerPlugin).
const analyzerKind = "analyzer"

// RunPlugin runs a Python plugin: a policy pack (kind "analyzer") or a provider such as a component provider
// (a folder with PulumiPlugin.yaml). The command is chosen as upstream's host chooses it (pluginCommand).
func (h *pythonHost) RunPlugin(req *pulumirpc.RunPluginRequest,
	server grpc.ServerStreamingServer[pulumirpc.RunPluginResponse],
) error {
	info := req.GetInfo()
	tc, opts, err := h.toolchainFor(info, req.GetKind() != analyzerKind)
	if err != nil {
		return err
	}
	cmd, err := pluginCommand(server.Context(), tc, opts, req)
	if err != nil {
		return err
	}
	env := cmd.Env
	if env == nil {
		env = os.Environ()
	}
	env = append(env, req.GetEnv()...)
	if venv := virtualenvAbs(opts); venv != "" {
		env = append(env, "PULUMI_RUNTIME_VIRTUALENV="+venv)
	}
	cmd.Env = env
	cmd.Dir = req.GetPwd()
	var mu sync.Mutex
	cmd.Stdout = streamWriter{&mu, func(b []byte) error {
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stdout{Stdout: b}})
	}}
	cmd.Stderr = streamWriter{&mu, func(b []byte) error {
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Stderr{Stderr: b}})
	}}
	code := int32(0)
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return err
		}
		code = int32(exitErr.ExitCode())
	}
	return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: code}})
}

// pluginCommand is the command that runs a plugin:
//   - a folder with __main__.py (or a pulumi SDK too old to have pulumi.run.plugin): `python -u <folder>`;
//   - otherwise the bootstrap-less mode for a pip-installable package (a pyproject.toml with a [project] name
//     and a [build-system]): `python -m pulumi.run.plugin <project name>`, which hosts the components the
//     module of that name exports (or runs the module). InstallDependencies has `pip install`ed the folder.
//
// Policy packs always have __main__.py and keep the first form.
func pluginCommand(ctx context.Context, tc toolchain.Toolchain, opts toolchain.PythonOptions,
	req *pulumirpc.RunPluginRequest,
) (*exec.Cmd, error) {
	info := req.GetInfo()
	program := req.GetProgram()
	if info != nil && info.GetProgramDirectory() != "" {
		program = info.GetProgramDirectory()
		if ep := info.GetEntryPoint(); ep != "" && ep != "." {
			program = filepath.Join(program, ep)
		}
	}
	if req.GetKind() != analyzerKind && opts.Root != "" {
		bootstrapless, err := isBootstrapless(ctx, tc, opts.Root)
		if err != nil {
			return nil, err
		}
		if bootstrapless {
			pyproject, err := toolchain.LoadPyproject(opts.Root)
			if err != nil {
				return nil, fmt.Errorf("loading pyproject.toml: %w", err)
			}
			args := append([]string{pyproject.Project.Name}, req.GetArgs()...)
			return tc.ModuleCommand(ctx, "pulumi.run.plugin", args...)
		}
	}
	return tc.Command(ctx, append([]string{"-u", program}, req.GetArgs()...)...)
}

// isBootstrapless tells whether the plugin folder root runs in the bootstrap-less mode: it has no
// __main__.py and its environment's pulumi SDK has pulumi.run.plugin. Such a folder must then be a
// buildable package (same error as upstream otherwise).
func isBootstrapless(ctx context.Context, tc toolchain.Toolchain, root string) (bool, error) {
	if _, err := os.Stat(filepath.Join(root, "__main__.py")); err == nil {
		return false, nil
	} else if !os.IsNotExist(err) {
		return false, fmt.Errorf("looking for __main__.py: %w", err)
	}
	check, err := tc.Command(ctx, "-c", "import pulumi.run.plugin")
	if err != nil {
		return false, err
	}
	if out, err := check.CombinedOutput(); err != nil && strings.Contains(string(out), "ModuleNotFoundError") {
		return false, nil // an older SDK: fall back to running the folder
	}
	buildable, err := toolchain.IsBuildablePackage(root)
	if err != nil {
		return false, fmt.Errorf("checking if plugin is a buildable package: %w", err)
	}
	if !buildable {
		return false, errors.New("plugin is not runnable, it provides neither __main__.py nor a buildable pyproject.toml")
	}
	return true, nil
}

// InstallDependencies installs a program's or plugin's dependencies (`pulumi install`, and the CLI before it
// runs a plugin folder). A plugin that is a buildable package (bootstrap-less mode) is also `pip install`ed
// itself into its virtualenv, as upstream does.
func (h *pythonHost) InstallDependencies(req *pulumirpc.InstallDependenciesRequest,
	server grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse],
) error {
	tc, _, err := h.toolchainFor(req.GetInfo(), req.GetIsPlugin())
	if err != nil {
		return err
	}
	var mu sync.Mutex
	stdout := streamWriter{&mu, func(b []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stdout: b})
	}}
	stderr := streamWriter{&mu, func(b []byte) error {
		return server.Send(&pulumirpc.InstallDependenciesResponse{Stderr: b})
	}}
	dir := ""
	if req.GetInfo() != nil {
		dir = req.GetInfo().GetProgramDirectory()
	}
	ctx := server.Context()
	if req.GetIsPlugin() {
		buildable, err := toolchain.IsBuildablePackage(dir)
		if err != nil {
			return fmt.Errorf("checking if plugin is a buildable package: %w", err)
		}
		if buildable {
			if err := tc.EnsureVenv(ctx, dir, req.GetUseLanguageVersionTools(), true /*showOutput*/, stdout,
				stderr); err != nil {
				return fmt.Errorf("creating virtual environment: %w", err)
			}
			cmd, err := tc.ModuleCommand(ctx, "pip", "install", dir)
			if err != nil {
				return fmt.Errorf("preparing pip install command: %w", err)
			}
			cmd.Stdout, cmd.Stderr = stdout, stderr
			if err := cmd.Run(); err != nil {
				return fmt.Errorf("installing package: %w", err)
			}
		}
	}
	return tc.InstallDependencies(ctx, dir, req.GetUseLanguageVersionTools(),
		true /*showOutput*/, io.Writer(stdout), io.Writer(stderr))
}

func (h *pythonHost) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	tc, _, err := h.toolchainFor(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	info, err := tc.About(ctx)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.AboutResponse{
		Executable: info.PythonExecutable,
		Version:    info.PythonVersion.String(),
	}, nil
}

func (h *pythonHost) GetProgramDependencies(ctx context.Context,
	req *pulumirpc.GetProgramDependenciesRequest,
) (*pulumirpc.GetProgramDependenciesResponse, error) {
	tc, _, err := h.toolchainFor(req.GetInfo(), false)
	if err != nil {
		return nil, err
	}
	deps, err := tc.ListPackages(ctx, req.GetTransitiveDependencies())
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, d := range deps {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: d.Name, Version: d.Version})
	}
	return resp, nil
}

func (h *pythonHost) RuntimeOptionsPrompts(context.Context,
	*pulumirpc.RuntimeOptionsRequest,
) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}
