# The sandbox every WEFT unit starts from (systemd.exec(5)): no capabilities,
# no devices, a read-only system, no home, no kernel tunables, modules, logs
# or clock, no namespaces, no realtime, no setuid files, native system calls
# of @system-service without @privileged and @resources, Unix sockets only,
# no writable executable memory. Each unit relaxes exactly what it needs, and
# says why; tests/nix-units.py asserts the result unit by unit.
{
  CapabilityBoundingSet = "";
  AmbientCapabilities = "";
  NoNewPrivileges = true;
  PrivateDevices = true;
  PrivateTmp = true;
  PrivateMounts = true;
  ProtectSystem = "strict";
  ProtectHome = true;
  ProtectProc = "invisible";
  ProtectKernelTunables = true;
  ProtectKernelModules = true;
  ProtectKernelLogs = true;
  ProtectControlGroups = true;
  ProtectClock = true;
  ProtectHostname = true;
  RestrictNamespaces = true;
  RestrictRealtime = true;
  RestrictSUIDSGID = true;
  LockPersonality = true;
  MemoryDenyWriteExecute = true;
  SystemCallArchitectures = "native";
  SystemCallFilter = [
    "@system-service"
    "~@privileged @resources"
  ];
  RestrictAddressFamilies = [ "AF_UNIX" ];
  UMask = "0077";
}
