// noop-milter: a libmilter filter that lets everything through, as the
// ceiling for the milter benchmarks. It negotiates exactly what
// greylist-milter does (may add headers and choose macros; no headers, body,
// end-of-headers, DATA or unknown commands sent to it) and answers continue
// to every callback, so the difference to greylist-milter is the
// greylisting itself.
#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>

#include <cstdio>
#include <string>

#include "bench_util.h"

namespace {

sfsistat on_negotiate(SMFICTX* ctx, unsigned long actions, unsigned long steps, unsigned long, unsigned long,
                      unsigned long* want_actions, unsigned long* want_steps, unsigned long* want_f2,
                      unsigned long* want_f3) {
  *want_actions = actions & (SMFIF_ADDHDRS | SMFIF_SETSYMLIST);
  *want_steps = steps & (SMFIP_NOHDRS | SMFIP_NOBODY | SMFIP_NOEOH | SMFIP_NODATA | SMFIP_NOUNKNOWN);
  *want_f2 = 0;
  *want_f3 = 0;
  if ((actions & SMFIF_SETSYMLIST) != 0) {
    smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char*>("i {auth_authen}"));
    smfi_setsymlist(ctx, SMFIM_ENVRCPT, const_cast<char*>("i"));
    smfi_setsymlist(ctx, SMFIM_EOM, const_cast<char*>("i"));
  }
  return SMFIS_CONTINUE;
}

sfsistat on_connect(SMFICTX*, char*, _SOCK_ADDR*) { return SMFIS_CONTINUE; }
sfsistat on_helo(SMFICTX*, char*) { return SMFIS_CONTINUE; }
sfsistat on_envfrom(SMFICTX*, char**) { return SMFIS_CONTINUE; }
sfsistat on_envrcpt(SMFICTX*, char**) { return SMFIS_CONTINUE; }
sfsistat on_eom(SMFICTX*) { return SMFIS_CONTINUE; }
sfsistat on_abort(SMFICTX*) { return SMFIS_CONTINUE; }
sfsistat on_close(SMFICTX*) { return SMFIS_CONTINUE; }

}  // namespace

int main(int argc, char** argv) {
  bench::Flags flags(argc, argv, {{"host", "127.0.0.1"}, {"port", "0"}},
                     "usage: noop-milter --port N [--host 127.0.0.1]\n");
  const int port = static_cast<int>(flags.integer("port", 1, 65535));
  std::string conn = "inet:" + std::to_string(port) + "@" + flags.str("host");

  smfiDesc desc{};
  desc.xxfi_name = const_cast<char*>("noop-milter");
  desc.xxfi_version = SMFI_VERSION;
  desc.xxfi_flags = SMFIF_ADDHDRS;
  desc.xxfi_connect = on_connect;
  desc.xxfi_helo = on_helo;
  desc.xxfi_envfrom = on_envfrom;
  desc.xxfi_envrcpt = on_envrcpt;
  desc.xxfi_eom = on_eom;
  desc.xxfi_abort = on_abort;
  desc.xxfi_close = on_close;
  desc.xxfi_negotiate = on_negotiate;
  if (smfi_register(desc) != MI_SUCCESS || smfi_setconn(conn.data()) != MI_SUCCESS ||
      smfi_opensocket(true) != MI_SUCCESS) {
    std::fprintf(stderr, "noop-milter: cannot register or listen on %s\n", conn.c_str());
    return 1;
  }
  // smfi_main() stops on SIGTERM/SIGINT/SIGHUP by itself.
  return smfi_main() == MI_SUCCESS ? 0 : 1;
}
