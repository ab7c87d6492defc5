"""C++ (and gRPC) code generation with Debian's protoc and grpc_cpp_plugin.

Bazel 4's cc_proto_library needs @com_google_protobuf, which is a download; this macro runs the
system protoc in a genrule instead. Imports are workspace-relative
(`import "protos/stripe/v1/charge.proto";`) and generated headers are included the same way
(`#include "protos/stripe/v1/charge.pb.h"`). Well-known types come from /usr/include.

Example:
    sb_proto_library(
        name = "event_proto",
        srcs = ["event.proto"],
        deps = ["//protos/stripe/v1:stripe_proto"],
        grpc = False,
    )

Creates:
    <name>          cc_library with the generated code (link it)
    <name>_files    filegroup of these .proto files and every transitively imported one (the
                    genrule of a dependent target needs them all as inputs)
"""

def sb_proto_library(name, srcs, deps = [], grpc = False, visibility = None):
    files = name + "_files"
    native.filegroup(
        name = files,
        srcs = srcs + [d + "_files" for d in deps],
        visibility = visibility,
    )

    bases = [s[:-len(".proto")] for s in srcs]
    outs = [b + ".pb.h" for b in bases] + [b + ".pb.cc" for b in bases]
    grpc_flags = ""
    if grpc:
        outs += [b + ".grpc.pb.h" for b in bases] + [b + ".grpc.pb.cc" for b in bases]
        outs += [b + "_mock.grpc.pb.h" for b in bases]
        grpc_flags = ("--grpc_out=generate_mock_code=true:$(GENDIR) " +
                      "--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin ")

    native.genrule(
        name = name + "_gen",
        srcs = srcs + [d + "_files" for d in deps],
        outs = outs,
        cmd = ("/usr/bin/protoc -I. -I/usr/include --cpp_out=$(GENDIR) " + grpc_flags +
               " ".join(["$(location %s)" % s for s in srcs])),
    )

    system_deps = ["@system//:protobuf"]
    if grpc:
        system_deps.append("@system//:grpc")
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".pb.cc")],
        hdrs = [o for o in outs if o.endswith(".pb.h")],
        deps = deps + system_deps,
        visibility = visibility,
    )
