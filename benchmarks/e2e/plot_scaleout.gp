# Scale-out scenario: live partitions of the two instances (join, SIGTERM, join, SIGKILL).
set terminal pngcairo size 1200,500 font ",10" noenhanced
set output dir.'/scaleout.png'
set title "rostersync e2e: scale-out (12 partitions)"
set grid
set xlabel "seconds"
set ylabel "partitions live"
set yrange [-0.5:12.5]
plot dir.'/scaleout.dat' using 1:($2 < 0 ? NaN : $2) with steps lw 2 title "instance A (stays)", \
     dir.'/scaleout.dat' using 1:($3 < 0 ? NaN : $3) with steps lw 2 title "instance B (joins, stops)"
