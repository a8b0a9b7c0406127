"""Run OpenSIPS's SIPssert end-to-end tests against pysips, without Docker.

A SIPssert test is a folder with a `scenario.yml` (tasks in containers on docker networks). Here every
task is a local process: pysips for `opensips`, sipp for `uac-sipp`/`uas-sipp`, the MI clients for
`opensips-mi`/`opensips-cli`, and `generic` commands when they exist on this host. The test's docker
addresses are mapped onto a private 127.0.0.0/8 block and container paths onto local folders.
See docs/sipssert.md.
"""
