-- wrk script for bench/rest: POSTs pods with unique names, the same pod
-- bench_rest_bus sends.  Arguments (after wrk's --): PATH TEMPLATE PREFIX,
-- where TEMPLATE is a file holding the pod with NAME where the name goes
-- (`bench_rest_bus template`).  Names are PREFIX-<thread>-<n>.
local threads = 0
local counter = 0

function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end

function init(args)
  path = args[1]
  local f = assert(io.open(args[2], "r"))
  local text = f:read("*a"):gsub("%s+$", "")
  f:close()
  pre, post = text:match("^(.-)NAME(.*)$")
  assert(pre, "no NAME in the template")
  prefix = args[3] .. "-" .. id .. "-"
end

function request()
  counter = counter + 1
  return wrk.format("POST", path, nil, pre .. prefix .. counter .. post)
end
