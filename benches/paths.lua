-- wrk script: GET requests taken in turn from the file named by PATHS (one path per line),
-- starting at a random line per thread, so that every request asks something else.
local paths = {}
local i = 0

init = function(args)
  for line in io.lines(os.getenv("PATHS")) do
    paths[#paths + 1] = wrk.format("GET", line)
  end
  i = math.random(#paths)
end

request = function()
  i = i % #paths + 1
  return paths[i]
end
