"""Open the host a worker runs on (the choice itself is made in services.targets)."""

from __future__ import annotations

from pathlib import Path

from cosmos_workflow.config import Settings
from cosmos_workflow.hosts.base import Host
from cosmos_workflow.services.targets import HostChoice


def open_host(choice: HostChoice, settings: Settings) -> Host:
    config = choice.config
    if config.ssh:
        from cosmos_workflow.hosts.ssh import SSHHost

        user_host, _, port = config.ssh.partition(":")
        return SSHHost(
            config.name,
            user_host,
            port=int(port) if port else config.ssh_port,
            key_path=config.ssh_key,
            root=str(config.workdir),
            known_hosts=config.known_hosts,
            accept_new_host_keys=config.accept_new_host_keys,
        )
    from cosmos_workflow.hosts.local import LocalHost

    root = Path(config.workdir).expanduser() if config.workdir else settings.jobs_dir
    root.mkdir(parents=True, exist_ok=True)
    return LocalHost(config.name, root)
