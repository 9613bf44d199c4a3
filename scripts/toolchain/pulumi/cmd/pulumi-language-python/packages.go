// GeneratePackage and Link: what `pulumi package add` (and `pulumi install` of a project's `packages:`)
// asks of a Python language host. The CLI first calls GeneratePackage to write a Python SDK for the
// package's schema into a scratch folder (then copies it to <project>/sdks/<name>), then Link to add
// that folder to the program's dependencies (requirements.txt, or pyproject.toml for uv/poetry), then
// InstallDependencies.
//
// Both follow upstream's host (sdk/python/cmd/pulumi-language-python, read as of 2026-08-21, one week before
// v3.260.0) step for step, on the same public packages: the schema binder and the Python code generator of
// github.com/pulumi/pulumi/pkg/v3, and the toolchain package's LinkPackages of sdk/v3.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/blang/semver"
	codegen "github.com/pulumi/pulumi/pkg/v3/codegen/python"
	"github.com/pulumi/pulumi/pkg/v3/codegen/schema"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"github.com/pulumi/pulumi/sdk/v3/python/toolchain"
)

// GeneratePackage writes the Python SDK of req.Schema into req.Directory. Schema errors come back as
// diagnostics (the CLI prints them), not as an RPC error.
func (h *pythonHost) GeneratePackage(ctx context.Context,
	req *pulumirpc.GeneratePackageRequest,
) (*pulumirpc.GeneratePackageResponse, error) {
	loader, err := schema.NewLoaderClient(req.GetLoaderTarget())
	if err != nil {
		return nil, err
	}
	defer loader.Close()

	var spec schema.PackageSpec
	if err := json.Unmarshal([]byte(req.GetSchema()), &spec); err != nil {
		return nil, fmt.Errorf("parsing the package schema: %w", err)
	}
	pkg, diags, err := schema.BindSpec(spec, schema.NewCachedLoader(loader), schema.ValidationOptions{
		AllowDanglingReferences: true,
	})
	if err != nil {
		return nil, err
	}
	rpcDiags := plugin.HclDiagnosticsToRPCDiagnostics(diags)
	if diags.HasErrors() {
		return &pulumirpc.GeneratePackageResponse{Diagnostics: rpcDiags}, nil
	}

	files, err := codegen.GeneratePackage("pulumi-language-python", pkg, req.GetExtraFiles(),
		schema.NewCachedLoader(loader))
	if err != nil {
		return nil, err
	}
	if err := writeFiles(req.GetDirectory(), files); err != nil {
		return nil, err
	}
	return &pulumirpc.GeneratePackageResponse{Diagnostics: rpcDiags}, nil
}

// writeFiles writes generated files (paths relative to dir) below dir.
func writeFiles(dir string, files map[string][]byte) error {
	for name, data := range files {
		out := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
			return fmt.Errorf("could not create output directory %s: %w", filepath.Dir(out), err)
		}
		if err := os.WriteFile(out, data, 0o600); err != nil {
			return fmt.Errorf("could not write output file %s: %w", out, err)
		}
	}
	return nil
}

// Link adds the generated SDK folders (paths relative to the program's root) to the program's
// dependency file, and tells the user how to import them. The virtualenv is not touched here: the CLI
// runs InstallDependencies next.
func (h *pythonHost) Link(ctx context.Context, req *pulumirpc.LinkRequest) (*pulumirpc.LinkResponse, error) {
	info := req.GetInfo()
	opts, err := h.parseOptions(info, false)
	if err != nil {
		return nil, err
	}
	loader, err := schema.NewLoaderClient(req.GetLoaderTarget())
	if err != nil {
		return nil, err
	}
	defer loader.Close()
	cached := schema.NewCachedLoader(loader)

	packages := map[string]string{} // Python distribution name -> SDK path
	var imports strings.Builder
	for _, dep := range req.GetPackages() {
		if dep.GetPackage().GetName() == "pulumi" {
			packages["pulumi"] = dep.GetPath()
			continue
		}
		pkgRef, err := schema.LoadPackageReferenceV2(ctx, cached, packageDescriptor(dep.GetPackage()))
		if err != nil {
			return nil, err
		}
		pkg, err := pkgRef.Definition()
		if err != nil {
			return nil, err
		}
		if err := pkg.ImportLanguages(map[string]schema.Language{"python": codegen.Importer}); err != nil {
			return nil, err
		}
		packageName, importName := pythonNames(pkg, pkgRef)
		packages[packageName] = dep.GetPath()
		fmt.Fprintf(&imports, "  import %s as %s\n", packageName, importName)
	}
	instructions := "You can import the SDK in your Python code with:\n\n"
	if len(req.GetPackages()) > 1 {
		instructions = "You can import the SDKs in your Python code with:\n\n"
	}
	instructions += imports.String()

	if opts.Toolchain != toolchain.Pip {
		// As upstream: a uv/poetry (or auto-detected) program that still has only requirements.txt has not been
		// converted yet (no `pulumi install` so far), so link into requirements.txt; the conversion carries it over.
		dir := info.GetProgramDirectory()
		if _, err := os.Stat(filepath.Join(dir, "pyproject.toml")); os.IsNotExist(err) {
			if _, err := os.Stat(filepath.Join(dir, "requirements.txt")); os.IsNotExist(err) {
				return nil, fmt.Errorf("no pyproject.toml or requirements.txt found in %s", dir)
			}
			opts.Toolchain = toolchain.Pip
		}
	}
	tc, err := toolchain.ResolveToolchain(opts)
	if err != nil {
		return nil, err
	}
	if err := tc.LinkPackages(ctx, packages); err != nil {
		return nil, fmt.Errorf("linking packages: %w", err)
	}
	return &pulumirpc.LinkResponse{ImportInstructions: instructions}, nil
}

// packageDescriptor turns the engine's description of a package into the schema loader's.
// An unparsable version is dropped (the loader then takes whatever version it finds), as upstream does.
func packageDescriptor(dep *pulumirpc.PackageDependency) *schema.PackageDescriptor {
	desc := &schema.PackageDescriptor{Name: dep.GetName(), DownloadURL: dep.GetServer()}
	if v, err := semver.New(dep.GetVersion()); err == nil {
		desc.Version = v
	}
	if p := dep.GetParameterization(); p != nil {
		desc.Parameterization = &schema.ParameterizationDescriptor{Name: p.GetName(), Value: p.GetValue()}
		if v, err := semver.New(p.GetVersion()); err == nil {
			desc.Parameterization.Version = *v
		}
	}
	return desc
}

// pythonNames gives the Python distribution name of a package's SDK and the name to import it as: the
// schema's language.python.packageName if set, otherwise upstream's defaults (pulumi_<name>, and the
// package name with dashes as underscores).
func pythonNames(pkg *schema.Package, ref schema.PackageReference) (packageName, importName string) {
	if info, ok := pkg.Language["python"].(codegen.PackageInfo); ok && info.PackageName != "" {
		return info.PackageName, info.PackageName
	}
	return codegen.PyPack(ref.Namespace(), ref.Name()), strings.ReplaceAll(ref.Name(), "-", "_")
}
