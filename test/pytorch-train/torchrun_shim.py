"""torchrun for the tests: torch.distributed.run's own main, with one fix for Debian 12's torch 1.13 on
Python 3.11, whose `Std.from_str` maps "0" (the default of --redirects and --tee) to None because
iterating an IntFlag no longer yields its zero member (fixed in torch 2.0); /usr/bin/torchrun then
fails with "'NoneType' object has no attribute 'get'" before starting any worker."""
import re
import sys

from torch.distributed.elastic.multiprocessing import api
from torch.distributed.run import main


def from_str(vm):
    if re.fullmatch(r'\d', vm):
        return api.Std(int(vm))
    return {int(k): api.Std(int(v)) for k, v in (p.split(':') for p in vm.split(','))}


if api.Std.from_str('0') is None:
    api.Std.from_str = staticmethod(from_str)

if __name__ == '__main__':
    sys.exit(main())
