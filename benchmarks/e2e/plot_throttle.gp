# Canvas throttle scenario: pages/s, rejections and the bucket's remaining allowance per strategy.
set terminal pngcairo size 1200,900 font ",10" noenhanced
set output dir.'/throttle.png'
set multiplot layout 3,1 title "rostersync e2e: Canvas throttle (hwm 600, outflow 10/s, up-front 50)"
set grid
set xlabel "seconds"
set key outside right
set ylabel "pages/s (smoothed)"
plot for [i=0:3] dir.'/throttle.dat' using 1:(column(2+3*i)) smooth bezier lw 2 \
     title word("rostersyncd serial fixed16 rostersync_open", i+1)
set ylabel "rejections/s"
plot for [i=0:3] dir.'/throttle.dat' using 1:(column(3+3*i)) with impulses lw 2 \
     title word("rostersyncd serial fixed16 rostersync_open", i+1)
set ylabel "min X-Rate-Limit-Remaining"
plot for [i=0:3] dir.'/throttle.dat' using 1:(column(4+3*i)) with lines lw 1 \
     title word("rostersyncd serial fixed16 rostersync_open", i+1)
unset multiplot
